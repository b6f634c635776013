/* kyodaku._offline: the optional compiled accelerator of `kyodaku check --offline` in bulk (docs/client.md).
 *
 * One call per unit of ids (ids.IdUnits' bytes between two cuts): the unit is split into lines by the rules of
 * IdUnits.ids (\r and \n end a line, ASCII whitespace stripped, empty lines and lines starting with # skipped)
 * and each id answered without a Python object: a stored key by its CSV tail (the bulk index's "tails"), a
 * `doi:` or `url:` id that classify keeps as it is (a conservative subset of ids.bulk_verdicts' patterns) by its
 * nearest `domain:` or the default, after the overlay and the filter (rbloom's layout, probed by the stated hash:
 * the first 16 bytes of SHA-256, offline.bloom_hash). Every id it cannot decide with certainty (another scheme or
 * spelling, a url under a `url-prefix:` host, a key the filter flags, a byte outside printable ASCII) is handed
 * back by value and position to LocalCopy.bulk_lines, the reference. client/tests/test_client_offline_accel.py
 * compares the two byte for byte.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#ifdef KYODAKU_OPENSSL
/* SHA256_Init/Update/Final: deprecated in OpenSSL 3 in favour of EVP, but kept, and several times faster for a
 * 40-byte key than SHA256() or EVP_Digest (each of which fetches the algorithm per call: ~0.5 us a key here). */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#endif

/* ------------------------------------------------------------------------------------------ a bytes table */
/* Open addressing, linear probing, load factor at most 1/2. A slot holds the key's full hash and where its record
 * (key length, value length, key, value) lies in the arena: a lookup that misses reads only slots, one that hits
 * reads one record. The lookups are cache misses (a 100,000-key table is megabytes): a slot pointing at a separate
 * entry pointing at the key cost three of them a hit, and most of the accelerator's time. */
typedef struct {
    uint64_t hash;
    uint64_t record; /* offset in the arena + 1; 0 when the slot is empty */
} Slot;

typedef struct {
    char *arena;
    Slot *slots;
    size_t count, mask;
} Table;

/* Eight bytes a step (one multiply each: a byte-at-a-time hash was most of the time of a lookup), then murmur3's
 * finaliser, so that the low bits (the slot) depend on every byte. */
static uint64_t hash_bytes(const char *data, size_t len) {
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ len, word;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        memcpy(&word, data + i, 8);
        h = (h ^ word) * 0xff51afd7ed558ccdULL;
        h ^= h >> 29;
    }
    word = 0;
    memcpy(&word, data + i, len - i);
    h = (h ^ word) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 33);
}

static void table_free(Table *t) {
    PyMem_Free(t->arena);
    PyMem_Free(t->slots);
    memset(t, 0, sizeof(*t));
}

/* Keys (and values, when `values` is set) from a dict of bytes to bytes, or an iterable of bytes. */
static int table_build(Table *t, PyObject *source, int values) {
    PyObject *items = values ? PyDict_Items(source) : PySequence_List(source);
    if (items == NULL)
        return -1;
    Py_ssize_t n = PyList_GET_SIZE(items);
    size_t total = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(items, i);
        PyObject *key = values ? PyTuple_GET_ITEM(item, 0) : item;
        PyObject *value = values ? PyTuple_GET_ITEM(item, 1) : NULL;
        if (!PyBytes_Check(key) || (values && !PyBytes_Check(value)) || PyBytes_GET_SIZE(key) > UINT32_MAX ||
            (values && PyBytes_GET_SIZE(value) > UINT32_MAX)) {
            Py_DECREF(items);
            PyErr_SetString(PyExc_TypeError, "keys and values must be bytes (under 4 GB)");
            return -1;
        }
        total += 8 + PyBytes_GET_SIZE(key) + (values ? PyBytes_GET_SIZE(value) : 0);
    }
    size_t capacity = 16;
    while (capacity < 2 * (size_t)n)
        capacity <<= 1;
    t->arena = PyMem_Malloc(total + 1);
    t->slots = PyMem_Calloc(capacity, sizeof(Slot));
    if (!t->arena || !t->slots) {
        Py_DECREF(items);
        table_free(t);
        PyErr_NoMemory();
        return -1;
    }
    t->mask = capacity - 1;
    size_t at = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(items, i);
        PyObject *key = values ? PyTuple_GET_ITEM(item, 0) : item;
        PyObject *value = values ? PyTuple_GET_ITEM(item, 1) : NULL;
        uint32_t key_len = (uint32_t)PyBytes_GET_SIZE(key), value_len = values ? (uint32_t)PyBytes_GET_SIZE(value) : 0;
        uint64_t hash = hash_bytes(PyBytes_AS_STRING(key), key_len);
        size_t slot = hash & t->mask;
        while (t->slots[slot].record) {
            const char *other = t->arena + t->slots[slot].record - 1;
            uint32_t other_len;
            memcpy(&other_len, other, 4);
            if (t->slots[slot].hash == hash && other_len == key_len &&
                memcmp(other + 8, PyBytes_AS_STRING(key), key_len) == 0)
                break; /* a key twice (a set's keys never are, a dict's neither): the first kept */
            slot = (slot + 1) & t->mask;
        }
        if (t->slots[slot].record)
            continue;
        memcpy(t->arena + at, &key_len, 4);
        memcpy(t->arena + at + 4, &value_len, 4);
        memcpy(t->arena + at + 8, PyBytes_AS_STRING(key), key_len);
        if (values)
            memcpy(t->arena + at + 8 + key_len, PyBytes_AS_STRING(value), value_len);
        t->slots[slot].hash = hash;
        t->slots[slot].record = at + 1;
        at += 8 + key_len + value_len;
        t->count++;
    }
    Py_DECREF(items);
    return 0;
}

/* The value of `key` whose hash_bytes is `hash` (its length in *value_len), or NULL when the table does not hold
 * it. */
static const char *table_find_hashed(const Table *t, const char *key, size_t len, uint64_t hash,
                                     size_t *value_len) {
    if (t->count == 0)
        return NULL;
    size_t slot = hash & t->mask;
    while (t->slots[slot].record) {
        if (t->slots[slot].hash == hash) {
            const char *record = t->arena + t->slots[slot].record - 1;
            uint32_t key_len, length;
            memcpy(&key_len, record, 4);
            if (key_len == len && memcmp(record + 8, key, len) == 0) {
                memcpy(&length, record + 4, 4);
                *value_len = length;
                return record + 8 + key_len;
            }
        }
        slot = (slot + 1) & t->mask;
    }
    return NULL;
}

static const char *table_find(const Table *t, const char *key, size_t len, size_t *value_len) {
    return t->count ? table_find_hashed(t, key, len, hash_bytes(key, len), value_len) : NULL;
}

/* Ask the memory for the slot of `hash` (step 1), then for the record it points at (step 2, some ids later, once
 * the slot has arrived): the lookups of a unit's ids, in order, then mostly find both in the cache. */
static void table_prefetch_slot(const Table *t, uint64_t hash) {
    __builtin_prefetch(&t->slots[hash & t->mask]);
}

static void table_prefetch_record(const Table *t, uint64_t hash) {
    const Slot *slot = &t->slots[hash & t->mask];
    if (slot->record && slot->hash == hash)
        __builtin_prefetch(t->arena + slot->record - 1);
}

/* ---------------------------------------------------------------- spelling: classify's two first branches */
/* A `doi:` id that classify keeps as it is: 10.<digits>, more .<digits>, a / and a suffix, the suffix printable ASCII
 * without space or A-Z (ids._DOI; any other byte is handed back). */
static int doi_kept(const char *s, size_t n) {
    if (n < 4 + 5 || memcmp(s, "doi:10.", 7) != 0)
        return 0;
    size_t i = 7, digits = 0;
    for (; i < n && s[i] != '/'; i++) {
        if (s[i] >= '0' && s[i] <= '9')
            digits++;
        else if (s[i] == '.' && digits)
            digits = 0;
        else
            return 0;
    }
    if (i >= n || !digits || i + 1 >= n)
        return 0;
    for (i++; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c > 0x7e || (c >= 'A' && c <= 'Z'))
            return 0;
    }
    return 1;
}

static int host_char(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

static int path_char(unsigned char c) { /* ids._PATH_CHAR */
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("._~!$&'()*+,;=:@-", c) != NULL);
}

/* The host (offset and length in s) of a `url:` id that classify keeps as it is, or 0: url:http(s)://, a host of
 * two labels or more (each 1-63 of a-z 0-9 -, not starting or ending with -), no "--" in it, then a path of one or
 * more segments, each a / not followed by / or ., of ids._PATH_CHAR. */
static int url_kept(const char *s, size_t n, size_t *host, size_t *host_len) {
    size_t i;
    if (n > 11 && memcmp(s, "url:http://", 11) == 0)
        i = 11;
    else if (n > 12 && memcmp(s, "url:https://", 12) == 0)
        i = 12;
    else
        return 0;
    size_t start = i, label = 0, labels = 1;
    for (; i < n && s[i] != '/'; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return 0;
            labels++;
            label = 0;
        } else if (host_char(c)) {
            if (c == '-' && (label == 0 || s[i - 1] == '-'))
                return 0; /* a label starting with -, or "--" */
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    if (i >= n || label == 0 || s[i - 1] == '-' || labels < 2)
        return 0;
    *host = start;
    *host_len = i - start;
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '/') {
            if (i + 1 < n && (s[i + 1] == '/' || s[i + 1] == '.'))
                return 0;
        } else if (!path_char(c)) {
            return 0;
        }
    }
    return 1;
}

/* ------------------------------------------------------------------------------------------- the filter */
typedef struct {
    PyObject_HEAD
    Table tails, overlay, prefix_hosts;
    int prefix_any_host;
    char *default_tail;
    size_t default_len;
    unsigned char *bits; /* rbloom's bit line: bit i is bits[i / 8] >> (i % 8) */
    uint64_t bit_count, k;
} Accel;

#ifdef KYODAKU_OPENSSL
/* rbloom's `in` for offline.bloom_hash(key): the hash as u128 seeds an LCG whose k states give the bit indexes. */
static int filter_flags(const Accel *a, const char *key, size_t len) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256_CTX context;
    SHA256_Init(&context);
    SHA256_Update(&context, key, len);
    SHA256_Final(digest, &context);
    unsigned __int128 state = 0;
    for (int i = 0; i < 16; i++)
        state = (state << 8) | digest[i];
    const unsigned __int128 mul = ((unsigned __int128)0x2360ed051fc65da4ULL << 64) | 0x4385df649fcb5cedULL;
    for (uint64_t i = 0; i < a->k; i++) {
        state = state * mul + 1;
        uint64_t index = (uint64_t)(state >> 32) % a->bit_count;
        if (!(a->bits[index / 8] & (1u << (index % 8))))
            return 0;
    }
    return 1;
}
#endif

/* ------------------------------------------------------------------------------------------- the object */
static void Accel_dealloc(Accel *self) {
    table_free(&self->tails);
    table_free(&self->overlay);
    table_free(&self->prefix_hosts);
    PyMem_Free(self->default_tail);
    PyMem_Free(self->bits);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Accel_init(Accel *self, PyObject *args, PyObject *kwargs) {
    static char *names[] = {"tails", "overlay", "prefix_hosts", "prefix_any_host", "default", "filter", NULL};
    PyObject *tails, *overlay, *prefix_hosts, *filter;
    int prefix_any_host;
    Py_buffer deflt;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!OOpy*O", names, &PyDict_Type, &tails, &overlay,
                                     &prefix_hosts, &prefix_any_host, &deflt, &filter))
        return -1;
    if (self->tails.slots != NULL || self->default_tail != NULL) {
        PyBuffer_Release(&deflt);
        PyErr_SetString(PyExc_RuntimeError, "already initialised");
        return -1;
    }
    self->prefix_any_host = prefix_any_host;
    self->default_len = deflt.len;
    self->default_tail = PyMem_Malloc(deflt.len + 1);
    if (self->default_tail == NULL) {
        PyBuffer_Release(&deflt);
        PyErr_NoMemory();
        return -1;
    }
    memcpy(self->default_tail, deflt.buf, deflt.len);
    PyBuffer_Release(&deflt);
    if (table_build(&self->tails, tails, 1) < 0 || table_build(&self->overlay, overlay, 0) < 0 ||
        table_build(&self->prefix_hosts, prefix_hosts, 0) < 0)
        return -1;
    if (filter != Py_None) {
        Py_buffer view;
        if (PyObject_GetBuffer(filter, &view, PyBUF_SIMPLE) < 0)
            return -1;
        if (view.len <= 8) {
            PyBuffer_Release(&view);
            PyErr_SetString(PyExc_ValueError, "filter: rbloom's bytes are k (8 bytes) and a bit line");
            return -1;
        }
        uint64_t k = 0;
        for (int i = 7; i >= 0; i--)
            k = (k << 8) | ((unsigned char *)view.buf)[i];
        self->k = k;
        self->bit_count = (uint64_t)(view.len - 8) * 8;
        self->bits = PyMem_Malloc(view.len - 8);
        if (self->bits == NULL) {
            PyBuffer_Release(&view);
            PyErr_NoMemory();
            return -1;
        }
        memcpy(self->bits, (char *)view.buf + 8, view.len - 8);
        PyBuffer_Release(&view);
    }
    return 0;
}

typedef struct {
    char *data;
    size_t len, capacity;
} Buffer;

static int buffer_add(Buffer *b, const char *data, size_t len) {
    if (b->len + len > b->capacity) {
        size_t capacity = b->capacity ? b->capacity : 1 << 16;
        while (capacity < b->len + len)
            capacity *= 2;
        char *grown = PyMem_Realloc(b->data, capacity);
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        b->data = grown;
        b->capacity = capacity;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

static int is_strip(unsigned char c) { /* bytes.strip()'s whitespace */
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\x0b' || c == '\x0c';
}

/* The tail to write after the id s[0:n], or NULL to hand the id back to the Python path. */
static const char *answer(const Accel *a, const char *s, size_t n, uint64_t hash, size_t *tail_len) {
    size_t ignored;
    const char *tail = table_find_hashed(&a->tails, s, n, hash, tail_len);
    if (tail != NULL)
        return tail;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return NULL; /* a space inside, a control byte: classify decides */
    size_t host, host_len;
    if (url_kept(s, n, &host, &host_len)) {
        if (a->prefix_any_host || table_find(&a->prefix_hosts, s + host, host_len, &ignored) != NULL)
            return NULL; /* a url-prefix key may answer it: the whole rule in Python */
        char candidate[7 + 256];
        if (host_len > 249)
            return NULL;
        memcpy(candidate, "domain:", 7);
        const char *h = s + host;
        size_t left = host_len;
        const char *dot;
        while ((dot = memchr(h, '.', left)) != NULL) { /* LocalCopy._domain_key: nearest first */
            memcpy(candidate + 7, h, left);
            tail = table_find(&a->tails, candidate, 7 + left, tail_len);
            if (tail != NULL)
                return tail;
            left -= dot + 1 - h;
            h = dot + 1;
        }
    } else if (!doi_kept(s, n)) {
        return NULL;
    }
    /* a key the copy holds no answer for: the default, unless the filter flags it (then only the API answers) */
    if (table_find(&a->overlay, s, n, &ignored) == NULL) {
#ifdef KYODAKU_OPENSSL
        if (a->bits == NULL || filter_flags(a, s, n))
            return NULL;
#else
        return NULL;
#endif
    }
    *tail_len = a->default_len;
    return a->default_tail;
}

typedef struct {
    Py_ssize_t start;
    size_t len;
    uint64_t hash;
} IdSpan;

PyDoc_STRVAR(Accel_unit_doc,
"unit(data, start, end, quote) -> (segments, ids, positions, count)\n\n"
"The ids of data[start:end] (split as ids.IdUnits.ids splits them) answered where certain: `segments` the CSV\n"
"bytes between the ids handed back, `ids` those ids (bytes), `positions` their indexes among the unit's ids,\n"
"`count` how many ids the unit has. An id with a comma or a quote is quoted when `quote` is true.");

static PyObject *Accel_unit(Accel *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t start, end;
    int quote;
    if (!PyArg_ParseTuple(args, "y*nnp", &view, &start, &end, &quote))
        return NULL;
    if (start < 0 || end > view.len || start > end) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_IndexError, "unit: start and end out of the data");
        return NULL;
    }
    PyObject *segments = PyList_New(0), *ids = PyList_New(0), *positions = PyList_New(0);
    Buffer out = {NULL, 0, 0};
    Py_ssize_t count = 0;
    IdSpan *spans = NULL;
    size_t found = 0, found_capacity = 0;
    const char *data = view.buf;
    Py_ssize_t i = start;
    if (!segments || !ids || !positions)
        goto fail;
    /* the unit's ids first (where each lies, and its hash), so that their lookups can be asked for ahead */
    while (i < end) {
        Py_ssize_t line_end = i;
        while (line_end < end && data[line_end] != '\n' && data[line_end] != '\r')
            line_end++;
        Py_ssize_t a = i, b = line_end;
        i = line_end + 1;
        while (a < b && is_strip(data[a]))
            a++;
        while (b > a && is_strip(data[b - 1]))
            b--;
        if (a == b || data[a] == '#')
            continue;
        if (found == found_capacity) {
            size_t capacity = found_capacity ? 2 * found_capacity : 4096;
            IdSpan *grown = PyMem_Realloc(spans, capacity * sizeof(IdSpan));
            if (grown == NULL) {
                PyErr_NoMemory();
                goto fail;
            }
            spans = grown;
            found_capacity = capacity;
        }
        spans[found].start = a;
        spans[found].len = b - a;
        spans[found].hash = hash_bytes(data + a, b - a);
        found++;
    }
    for (size_t k = 0; k < found; k++) {
        if (k + 16 < found)
            table_prefetch_slot(&self->tails, spans[k + 16].hash);
        if (k + 8 < found)
            table_prefetch_record(&self->tails, spans[k + 8].hash);
        const char *s = data + spans[k].start;
        size_t n = spans[k].len, tail_len;
        const char *tail = answer(self, s, n, spans[k].hash, &tail_len);
        if (tail == NULL) {
            PyObject *segment = PyBytes_FromStringAndSize(out.data, out.len);
            PyObject *raw = PyBytes_FromStringAndSize(s, n);
            PyObject *position = PyLong_FromSsize_t(count);
            int failed = !segment || !raw || !position || PyList_Append(segments, segment) < 0 ||
                         PyList_Append(ids, raw) < 0 || PyList_Append(positions, position) < 0;
            Py_XDECREF(segment);
            Py_XDECREF(raw);
            Py_XDECREF(position);
            if (failed)
                goto fail;
            out.len = 0;
        } else if (quote && (memchr(s, ',', n) || memchr(s, '"', n))) {
            if (buffer_add(&out, "\"", 1) < 0)
                goto fail;
            for (size_t j = 0; j < n; j++)
                if (buffer_add(&out, s + j, 1) < 0 || (s[j] == '"' && buffer_add(&out, "\"", 1) < 0))
                    goto fail;
            if (buffer_add(&out, "\"", 1) < 0 || buffer_add(&out, tail, tail_len) < 0)
                goto fail;
        } else if (buffer_add(&out, s, n) < 0 || buffer_add(&out, tail, tail_len) < 0) {
            goto fail;
        }
        count++;
    }
    PyObject *last = PyBytes_FromStringAndSize(out.data, out.len);
    if (last == NULL || PyList_Append(segments, last) < 0) {
        Py_XDECREF(last);
        goto fail;
    }
    Py_DECREF(last);
    PyMem_Free(out.data);
    PyMem_Free(spans);
    PyBuffer_Release(&view);
    return Py_BuildValue("(NNNn)", segments, ids, positions, count);
fail:
    PyMem_Free(out.data);
    PyMem_Free(spans);
    PyBuffer_Release(&view);
    Py_XDECREF(segments);
    Py_XDECREF(ids);
    Py_XDECREF(positions);
    return NULL;
}

static PyObject *Accel_flags(Accel *self, PyObject *arg) {
    /* The filter's answer for one key (bytes), as this module computes it: for the tests against rbloom. */
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "flags: bytes");
        return NULL;
    }
#ifdef KYODAKU_OPENSSL
    if (self->bits == NULL)
        Py_RETURN_NONE;
    return PyBool_FromLong(filter_flags(self, PyBytes_AS_STRING(arg), PyBytes_GET_SIZE(arg)));
#else
    Py_RETURN_NONE;
#endif
}

static PyMethodDef Accel_methods[] = {
    {"unit", (PyCFunction)Accel_unit, METH_VARARGS, Accel_unit_doc},
    {"flags", (PyCFunction)Accel_flags, METH_O, "The filter's answer for a key (bytes); None without a filter."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject AccelType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "kyodaku._offline.Accel",
    .tp_basicsize = sizeof(Accel),
    .tp_dealloc = (destructor)Accel_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Accel(tails, overlay, prefix_hosts, prefix_any_host, default, filter): the bulk index in C tables.",
    .tp_methods = Accel_methods,
    .tp_init = (initproc)Accel_init,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "kyodaku._offline", "The compiled accelerator of the bulk offline check.", -1, NULL,
};

PyMODINIT_FUNC PyInit__offline(void) {
    if (PyType_Ready(&AccelType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&AccelType);
    if (PyModule_AddObject(m, "Accel", (PyObject *)&AccelType) < 0) {
        Py_DECREF(&AccelType);
        Py_DECREF(m);
        return NULL;
    }
#ifdef KYODAKU_OPENSSL
    PyModule_AddIntConstant(m, "HAS_SHA256", 1);
#else
    PyModule_AddIntConstant(m, "HAS_SHA256", 0);
#endif
    return m;
}
