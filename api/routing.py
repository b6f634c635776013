"""One view per operation, also where several operations share a URL (`GET /works` lists, `POST /works` registers).

Django routes a URL to one callable, so `by_method(get=WorkListApi, post=WorkCreateApi)` returns one that hands
each request to the view of its method. OPTIONS, HEAD without its own view and methods nobody handles go to a
subclass of the first view that carries every operation's method: its checks (authentication, permission,
throttle) run as before, and a 405's `Allow` and an OPTIONS answer list every method of the URL. The schema
generator (`api.schema.OperationSchemaGenerator`) documents each method from its own view, so operation ids,
parameters and responses are those the views declare.
"""
import functools

from rest_framework.views import APIView


def by_method(**views: type[APIView]):
    """The URL's callable for `views` keyed by lower-case HTTP method (`get=`, `post=`, `patch=`, `delete=`)."""
    for method, view in views.items():
        if not callable(getattr(view, method, None)):
            raise TypeError(f"{view.__name__} has no {method}()")
    first = next(iter(views.values()))
    combined = type(f"{first.__name__}Route", (first,),
                    {method: getattr(view, method) for method, view in views.items()})
    handlers = {method.upper(): view.as_view() for method, view in views.items()}
    if "GET" in handlers:
        handlers.setdefault("HEAD", handlers["GET"])
    fallback = combined.as_view()

    def route(request, *args, **kwargs):
        return handlers.get(request.method, fallback)(request, *args, **kwargs)

    # What Django and the schema generator read off an APIView's callable.
    route.csrf_exempt = True
    route.cls, route.initkwargs = combined, {}
    route.operations = {method.upper(): handler for method, handler in handlers.items()}
    return route


def lean_first(route, lean):
    """`route`, except that a request `lean(request)` answers (a response, not None) is answered there: a lane
    around a view's machinery for its commonest request (api.views.lookup.lookup_one_lean). What Django and the
    schema generator read off `route` (csrf_exempt, cls, initkwargs, operations) is kept."""

    @functools.wraps(route)
    def first(request, *args, **kwargs):
        response = lean(request)
        return route(request, *args, **kwargs) if response is None else response

    return first
