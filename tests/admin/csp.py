"""What the admin's Content-Security-Policy would refuse in a rendered page."""
import re

INLINE = re.compile(r"<(script|style)\b([^>]*)>", re.I)


def csp_problems(response) -> list[str]:
    """Inline scripts and styles without this response's nonce, style attributes and inline event handlers:
    a browser under the policy would not run or apply them (json_script data blocks are not scripts)."""
    header = response.get("Content-Security-Policy", "")
    match = re.search(r"'nonce-([^']+)'", header)
    if not match:
        return [f"no nonce in the policy: {header!r}"]
    nonce, html = match.group(1), response.content.decode()
    problems = [f"<{tag}{attrs}>" for tag, attrs in INLINE.findall(html)
                if "src=" not in attrs and "application/json" not in attrs and f'nonce="{nonce}"' not in attrs]
    problems += re.findall(r"<[^>]+\sstyle=\"[^\"]*\"", html)
    problems += re.findall(r"<[^>]+\son[a-z]+=\"[^\"]*\"", html)
    return problems
