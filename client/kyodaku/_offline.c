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
    int borrowed; /* arena and slots lie in a loaded dump (Accel's `dump`): not ours to free */
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
    if (!t->borrowed) {
        PyMem_Free(t->arena);
        PyMem_Free(t->slots);
    }
    memset(t, 0, sizeof(*t));
}

/* The next key (and value) of a dict (walked by PyDict_Next: no tuple per item, which for a large index cost more
 * in the cyclic GC's passes than the table itself) or of a list. */
static int next_item(PyObject *source, int values, Py_ssize_t *pos, PyObject **key, PyObject **value) {
    if (values)
        return PyDict_Next(source, pos, key, value);
    if (*pos >= PyList_GET_SIZE(source))
        return 0;
    *key = PyList_GET_ITEM(source, (*pos)++);
    return 1;
}

/* Keys (and values, when `values` is set) from a dict of bytes to bytes, or an iterable of bytes. */
static int table_build(Table *t, PyObject *source, int values) {
    PyObject *items = values ? (Py_INCREF(source), source) : PySequence_List(source);
    if (items == NULL)
        return -1;
    if (values && !PyDict_Check(items)) {
        Py_DECREF(items);
        PyErr_SetString(PyExc_TypeError, "a dict of bytes to bytes");
        return -1;
    }
    Py_ssize_t n = values ? PyDict_GET_SIZE(items) : PyList_GET_SIZE(items), pos = 0;
    PyObject *key, *value = NULL;
    size_t total = 0;
    while (next_item(items, values, &pos, &key, &value)) {
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
    pos = 0;
    while (next_item(items, values, &pos, &key, &value)) {
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

/* Where the host of a `url:http://` or `url:https://` id starts, or 0 for any other id. */
static size_t url_host_start(const char *s, size_t n) {
    if (n > 11 && memcmp(s, "url:http://", 11) == 0)
        return 11;
    if (n > 12 && memcmp(s, "url:https://", 12) == 0)
        return 12;
    return 0;
}

/* The host (offset and length in s) of a `url:` id that classify keeps as it is, or 0: url:http(s)://, a host of
 * two labels or more (each 1-63 of a-z 0-9 -, not starting or ending with -), no "--" in it, then a path of one or
 * more segments, each a / not followed by / or ., of ids._PATH_CHAR. */
static int url_kept(const char *s, size_t n, size_t *host, size_t *host_len) {
    size_t i = url_host_start(s, n);
    if (i == 0)
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
#define POOL_MAX 8
#ifndef PF_SLOT
#define PF_SLOT 16 /* ids ahead: a slot asked of the memory */
#endif
#ifndef PF_RECORD
#define PF_RECORD 8 /* ids ahead: the record its slot points at */
#endif

typedef struct {
    PyObject_HEAD
    Table tails, overlay, prefix_hosts;
    int prefix_any_host;
    char *default_tail;
    size_t default_len;
    unsigned char *bits; /* rbloom's bit line: bit i is bits[i / 8] >> (i % 8), inside `filter` (not a copy) */
    uint64_t bit_count, k;
    /* Output buffers given back by Rendered objects, for the next units: a fresh buffer of a unit's CSV (megabytes)
     * is fresh pages from the kernel, each faulted and zeroed, as much work as writing into it. Only touched with
     * the GIL held. */
    char *pool[POOL_MAX];
    size_t pool_capacity[POOL_MAX];
    int pool_count;
    Py_buffer dump; /* load(): the dump the tables lie in, held until the Accel goes (dump.obj NULL otherwise) */
    /* The filter's bytes as given (offline.py gives the file's read-only mmap), held until the Accel goes
     * (filter.obj NULL without a filter): `bits` points into it, so the filter is in memory once, as the file's
     * pages, and an mmap cannot be closed while it is exported. A copy here was as large again as the file (~360 MB
     * at 100 million flagged keys, docs/performance.md "The filter held once"). */
    Py_buffer filter;
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
    if (self->filter.obj != NULL)
        PyBuffer_Release(&self->filter);
    for (int i = 0; i < self->pool_count; i++)
        PyMem_RawFree(self->pool[i]);
    if (self->dump.obj != NULL)
        PyBuffer_Release(&self->dump);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* ------------------------------------------------------------------------------------- a unit's CSV bytes */
/* A read-only buffer (memoryview(rendered), bytes(rendered)) over a unit's CSV, whose memory goes back to its Accel's
 * pool when the last view of it is gone. */
typedef struct {
    PyObject_HEAD
    Accel *owner;
    char *data;
    Py_ssize_t len;
    size_t capacity;
} Rendered;

static void Rendered_dealloc(Rendered *self) {
    Accel *owner = self->owner;
    if (owner != NULL && self->data != NULL && owner->pool_count < POOL_MAX) {
        owner->pool[owner->pool_count] = self->data;
        owner->pool_capacity[owner->pool_count++] = self->capacity;
    } else {
        PyMem_RawFree(self->data);
    }
    Py_XDECREF(owner);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Rendered_getbuffer(Rendered *self, Py_buffer *view, int flags) {
    return PyBuffer_FillInfo(view, (PyObject *)self, self->data, self->len, 1, flags);
}

static Py_ssize_t Rendered_length(Rendered *self) {
    return self->len;
}

static PyBufferProcs Rendered_as_buffer = {(getbufferproc)Rendered_getbuffer, NULL};
static PySequenceMethods Rendered_as_sequence = {.sq_length = (lenfunc)Rendered_length};

static PyTypeObject RenderedType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "kyodaku._offline.Rendered",
    .tp_basicsize = sizeof(Rendered),
    .tp_dealloc = (destructor)Rendered_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A unit's CSV (Accel.unit): a read-only buffer.",
    .tp_as_buffer = &Rendered_as_buffer,
    .tp_as_sequence = &Rendered_as_sequence,
};

/* A Rendered of `len` bytes (to be written), from the pool where a buffer is large enough. With the GIL held. */
static Rendered *rendered_new(Accel *owner, size_t len) {
    Rendered *r = PyObject_New(Rendered, &RenderedType);
    if (r == NULL)
        return NULL;
    r->owner = NULL;
    r->data = NULL;
    r->len = (Py_ssize_t)len;
    r->capacity = 0;
    for (int i = owner->pool_count - 1; i >= 0; i--) {
        if (owner->pool_capacity[i] >= len) {
            r->data = owner->pool[i];
            r->capacity = owner->pool_capacity[i];
            owner->pool[i] = owner->pool[owner->pool_count - 1];
            owner->pool_capacity[i] = owner->pool_capacity[--owner->pool_count];
            break;
        }
    }
    if (r->data == NULL) {
        if (owner->pool_count > 0) { /* none large enough: drop one, so that the pool follows the units' sizes */
            PyMem_RawFree(owner->pool[--owner->pool_count]);
        }
        r->capacity = len + (len >> 3) + 4096; /* room for the next units, a little larger */
        r->data = PyMem_RawMalloc(r->capacity);
        if (r->data == NULL) {
            Py_DECREF(r);
            PyErr_NoMemory();
            return NULL;
        }
    }
    Py_INCREF(owner);
    r->owner = owner;
    return r;
}

static int accel_set_filter(Accel *self, PyObject *filter) {
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
        self->bits = (unsigned char *)view.buf + 8;
        self->filter = view; /* released with the Accel (PyBUF_SIMPLE: read-only is enough, no copy) */
    }
    return 0;
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
    return accel_set_filter(self, filter);
}

static int is_strip(unsigned char c) { /* bytes.strip()'s whitespace */
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\x0b' || c == '\x0c';
}

/* The tail to write after the id s[0:n] (whose hash_bytes is `hash`; for a url, `domain_hash` that of `domain:`
 * and its whole host, or 0), or NULL to hand the id back to the Python path. */
static const char *answer(const Accel *a, const char *s, size_t n, uint64_t hash, uint64_t domain_hash,
                          size_t *tail_len) {
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
            tail = left == host_len && domain_hash /* the whole host: hashed already (split_unit) */
                       ? table_find_hashed(&a->tails, candidate, 7 + left, domain_hash, tail_len)
                       : table_find(&a->tails, candidate, 7 + left, tail_len);
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
    const char *tail; /* NULL: handed back to the Python path */
    size_t tail_len;
    size_t out; /* the line's length as written (the id quoted where it must be), then: where it starts */
    uint64_t domain_hash; /* a `url:http(s)://` id: the hash of `domain:<its host>`, to prefetch; else 0 */
} IdSpan;

/* For an id that starts as a url, hash_bytes of the first `domain:` key answer() will look for (its whole host), so
 * that its slot is asked of the memory ahead as the id's own is; 0 for any other id. Only a prefetch: answer()
 * decides everything itself. */
static uint64_t domain_hash(const char *s, size_t n) {
    size_t i = url_host_start(s, n);
    if (i == 0)
        return 0;
    const char *slash = memchr(s + i, '/', n - i);
    size_t host_len = (slash ? (size_t)(slash - s) : n) - i;
    if (host_len > 249)
        return 0;
    char candidate[7 + 256];
    memcpy(candidate, "domain:", 7);
    memcpy(candidate + 7, s + i, host_len);
    return hash_bytes(candidate, 7 + host_len);
}

/* The unit's ids (split by IdUnits.ids' rules) into *spans, each with its hash; -1 when memory ran out. Runs without
 * the GIL: PyMem_Raw* only. */
static Py_ssize_t split_unit(const char *data, Py_ssize_t i, Py_ssize_t end, IdSpan **spans) {
    size_t found = 0, capacity = 0;
    *spans = NULL;
    while (i < end) {
        const char *nl = memchr(data + i, '\n', end - i);
        Py_ssize_t line_end = nl ? nl - data : end;
        const char *cr = memchr(data + i, '\r', line_end - i); /* \r ends a line too (universal newlines) */
        if (cr != NULL)
            line_end = cr - data;
        Py_ssize_t a = i, b = line_end;
        i = line_end + 1;
        while (a < b && is_strip(data[a]))
            a++;
        while (b > a && is_strip(data[b - 1]))
            b--;
        if (a == b || data[a] == '#')
            continue;
        if (found == capacity) {
            capacity = capacity ? 2 * capacity : 8192;
            IdSpan *grown = PyMem_RawRealloc(*spans, capacity * sizeof(IdSpan));
            if (grown == NULL)
                return -1;
            *spans = grown;
        }
        (*spans)[found].start = a;
        (*spans)[found].len = b - a;
        (*spans)[found].hash = hash_bytes(data + a, b - a);
        (*spans)[found].domain_hash = domain_hash(data + a, b - a);
        found++;
    }
    return (Py_ssize_t)found;
}

/* Each id's tail (or NULL: handed back) and its line's length; the unit's CSV size. Without the GIL: the tables are
 * read only, so several threads answer units of one Accel at once. */
static size_t answer_unit(const Accel *self, const char *data, IdSpan *spans, size_t found, int quote) {
    size_t total = 0;
    for (size_t k = 0; k < found; k++) {
        if (k + PF_SLOT < found) {
            table_prefetch_slot(&self->tails, spans[k + PF_SLOT].hash);
            if (spans[k + PF_SLOT].domain_hash)
                table_prefetch_slot(&self->tails, spans[k + PF_SLOT].domain_hash);
        }
        if (k + PF_RECORD < found) {
            table_prefetch_record(&self->tails, spans[k + PF_RECORD].hash);
            if (spans[k + PF_RECORD].domain_hash)
                table_prefetch_record(&self->tails, spans[k + PF_RECORD].domain_hash);
        }
        const char *s = data + spans[k].start;
        size_t n = spans[k].len;
        spans[k].tail = answer(self, s, n, spans[k].hash, spans[k].domain_hash, &spans[k].tail_len);
        if (spans[k].tail == NULL) {
            spans[k].out = 0;
            continue;
        }
        size_t line = n + spans[k].tail_len;
        if (quote && (memchr(s, ',', n) || memchr(s, '"', n))) {
            line += 2;
            for (size_t j = 0; j < n; j++)
                line += s[j] == '"';
        }
        spans[k].out = line;
        total += line;
    }
    return total;
}

/* The lines of the answered ids into out (exactly answer_unit's total bytes); each span's `out` becomes where its
 * line starts (for a handed-back id: where its line goes). */
static void write_unit(const char *data, IdSpan *spans, size_t found, char *out) {
    size_t at = 0;
    for (size_t k = 0; k < found; k++) {
        const char *s = data + spans[k].start;
        size_t n = spans[k].len, line = spans[k].out;
        spans[k].out = at;
        if (spans[k].tail == NULL)
            continue;
        if (line != n + spans[k].tail_len) { /* quoted */
            out[at++] = '"';
            for (size_t j = 0; j < n; j++) {
                out[at++] = s[j];
                if (s[j] == '"')
                    out[at++] = '"';
            }
            out[at++] = '"';
        } else {
            memcpy(out + at, s, n);
            at += n;
        }
        memcpy(out + at, spans[k].tail, spans[k].tail_len);
        at += spans[k].tail_len;
    }
}

PyDoc_STRVAR(Accel_unit_doc,
"unit(data, start, end, quote) -> (csv, cuts, ids, positions, count)\n\n"
"The ids of data[start:end] (split as ids.IdUnits.ids splits them) answered where certain: `csv` the lines of the\n"
"answered ids (bytes), `ids` the ids handed back (bytes), `cuts` where each one's line goes in `csv`, `positions`\n"
"their indexes among the unit's ids, `count` how many ids the unit has. An id with a comma or a quote is quoted\n"
"when `quote` is true. The GIL is released while the unit is split, answered and written: threads answer units\n"
"of one Accel in parallel (`data` must not change meanwhile: bytes, or a buffer nobody writes).");

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
    const char *data = view.buf;
    IdSpan *spans;
    Py_ssize_t found;
    size_t total = 0;
    Py_BEGIN_ALLOW_THREADS
    found = split_unit(data, start, end, &spans);
    if (found > 0)
        total = answer_unit(self, data, spans, (size_t)found, quote);
    Py_END_ALLOW_THREADS
    if (found < 0) {
        PyMem_RawFree(spans);
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    Rendered *csv = rendered_new(self, total);
    PyObject *cuts = PyList_New(0), *ids = PyList_New(0), *positions = PyList_New(0);
    if (!csv || !cuts || !ids || !positions)
        goto fail;
    char *out = csv->data; /* nobody else holds it yet */
    Py_BEGIN_ALLOW_THREADS
    write_unit(data, spans, (size_t)found, out);
    Py_END_ALLOW_THREADS
    for (Py_ssize_t k = 0; k < found; k++) {
        if (spans[k].tail != NULL)
            continue;
        PyObject *raw = PyBytes_FromStringAndSize(data + spans[k].start, spans[k].len);
        PyObject *cut = PyLong_FromSize_t(spans[k].out);
        PyObject *position = PyLong_FromSsize_t(k);
        int failed = !raw || !cut || !position || PyList_Append(ids, raw) < 0 || PyList_Append(cuts, cut) < 0 ||
                     PyList_Append(positions, position) < 0;
        Py_XDECREF(raw);
        Py_XDECREF(cut);
        Py_XDECREF(position);
        if (failed)
            goto fail;
    }
    PyMem_RawFree(spans);
    PyBuffer_Release(&view);
    return Py_BuildValue("(NNNNn)", csv, cuts, ids, positions, found);
fail:
    PyMem_RawFree(spans);
    PyBuffer_Release(&view);
    Py_XDECREF((PyObject *)csv);
    Py_XDECREF(cuts);
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

static PyTypeObject AccelType;

/* ------------------------------------------------------------------------ the tables as one file (index.accel) */
/* `kyodaku sync` keeps the tables as built (LocalCopy.write_index), so that a check loads them with one read and a
 * copy instead of a marshal.loads of the bulk index and a table build (tens of ms for 100,000 keys: most of a
 * small check's fixed cost). Native byte order and sizes: the file is only ever read on the machine that wrote it
 * (the magic says which layout), and never trusted further than its bounds, which load() checks record by record.
 */
#define DUMP_MAGIC "KYDKAC1\0"

static size_t pad8(size_t n) {
    return (n + 7) & ~(size_t)7;
}

static size_t table_arena_len(const Table *t) { /* the records' bytes, from the slots */
    size_t end = 0;
    for (size_t i = 0; t->slots && i <= t->mask; i++) {
        if (t->slots[i].record) {
            const char *record = t->arena + t->slots[i].record - 1;
            uint32_t key_len, value_len;
            memcpy(&key_len, record, 4);
            memcpy(&value_len, record + 4, 4);
            size_t stop = t->slots[i].record - 1 + 8 + key_len + value_len;
            if (stop > end)
                end = stop;
        }
    }
    return end;
}

static char *put(char *at, const void *data, size_t len) {
    memcpy(at, data, len);
    memset(at + len, 0, pad8(len) - len);
    return at + pad8(len);
}

static PyObject *Accel_dumps(Accel *self, PyObject *Py_UNUSED(ignored)) {
    const Table *tables[3] = {&self->tails, &self->overlay, &self->prefix_hosts};
    size_t arena[3], total = 8 + 16 + pad8(self->default_len);
    for (int i = 0; i < 3; i++) {
        arena[i] = table_arena_len(tables[i]);
        total += 24 + pad8(arena[i]) + (tables[i]->mask + 1) * sizeof(Slot);
    }
    PyObject *blob = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total);
    if (blob == NULL)
        return NULL;
    char *at = PyBytes_AS_STRING(blob);
    uint64_t header[2] = {(uint64_t)self->prefix_any_host, self->default_len};
    at = put(at, DUMP_MAGIC, 8);
    at = put(at, header, 16);
    at = put(at, self->default_tail, self->default_len);
    for (int i = 0; i < 3; i++) {
        uint64_t sizes[3] = {tables[i]->count, tables[i]->mask + 1, arena[i]};
        at = put(at, sizes, 24);
        at = put(at, tables[i]->arena, arena[i]);
        at = put(at, tables[i]->slots, (tables[i]->mask + 1) * sizeof(Slot));
    }
    return blob;
}

/* Reads len bytes at *at of a blob of `end`, or fails (NULL). */
static const char *take(const char **at, const char *end, size_t len) {
    if ((size_t)(end - *at) < pad8(len) || pad8(len) < len)
        return NULL;
    const char *here = *at;
    *at += pad8(len);
    return here;
}

static int table_load(Table *t, const char **at, const char *end) {
    uint64_t sizes[3];
    const char *part = take(at, end, 24);
    if (part == NULL)
        return -1;
    memcpy(sizes, part, 24);
    uint64_t count = sizes[0], capacity = sizes[1], arena_len = sizes[2];
    if (capacity < 16 || (capacity & (capacity - 1)) || capacity > ((uint64_t)1 << 40) || count >= capacity ||
        arena_len > ((uint64_t)1 << 48))
        return -1;
    const char *arena = take(at, end, arena_len), *slots = take(at, end, capacity * sizeof(Slot));
    if (arena == NULL || slots == NULL || ((uintptr_t)slots & 7))
        return -1;
    t->arena = (char *)arena; /* in the dump, which the Accel holds: no copy */
    t->slots = (Slot *)slots;
    t->borrowed = 1;
    t->mask = capacity - 1;
    size_t used = 0;
    for (size_t i = 0; i < capacity; i++) { /* every record within the arena: no lookup can read past it */
        uint64_t record = t->slots[i].record;
        if (record == 0)
            continue;
        used++;
        uint32_t key_len, value_len;
        if (record - 1 > arena_len || arena_len - (record - 1) < 8)
            goto bad;
        memcpy(&key_len, t->arena + record - 1, 4);
        memcpy(&value_len, t->arena + record - 1 + 4, 4);
        if ((uint64_t)key_len + value_len > arena_len - (record - 1) - 8)
            goto bad;
    }
    if (used != count) /* and so at least one empty slot: every probe ends */
        goto bad;
    t->count = count;
    return 0;
bad:
    table_free(t);
    return -1;
}

PyDoc_STRVAR(load_doc,
"load(blob, filter) -> Accel\n\n"
"The Accel whose tables Accel.dumps() wrote in `blob`, with the filter's bytes (as Accel's `filter`). ValueError\n"
"when `blob` is not such a dump (another layout, cut short, records out of bounds).");

static PyObject *load(PyObject *Py_UNUSED(module), PyObject *args) {
    Py_buffer view;
    PyObject *filter;
    if (!PyArg_ParseTuple(args, "y*O", &view, &filter))
        return NULL;
    Accel *self = (Accel *)PyType_GenericNew(&AccelType, NULL, NULL);
    if (self == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    self->dump = view; /* released with the Accel: the tables point into it */
    const char *at = view.buf, *end = at + view.len, *part;
    uint64_t header[2];
    int failed = -1;
    if ((part = take(&at, end, 8)) == NULL || memcmp(part, DUMP_MAGIC, 8) != 0 || (part = take(&at, end, 16)) == NULL)
        goto done;
    memcpy(header, part, 16);
    if (header[0] > 1 || (part = take(&at, end, header[1])) == NULL)
        goto done;
    self->prefix_any_host = (int)header[0];
    self->default_len = header[1];
    self->default_tail = PyMem_Malloc(header[1] + 1);
    if (self->default_tail == NULL) {
        PyErr_NoMemory();
        failed = -2;
        goto done;
    }
    memcpy(self->default_tail, part, header[1]);
    if ((failed = table_load(&self->tails, &at, end)) < 0 || (failed = table_load(&self->overlay, &at, end)) < 0 ||
        (failed = table_load(&self->prefix_hosts, &at, end)) < 0)
        goto done;
    failed = at == end ? 0 : -1;
done:
    if (failed == -1)
        PyErr_SetString(PyExc_ValueError, "load: not a dump of this build's tables");
    if (failed < 0 || accel_set_filter(self, filter) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static PyObject *Accel_tail(Accel *self, PyObject *arg) {
    /* The bulk index's tail of a key (bytes), or None: the Python path's `tails` when the tables were loaded. */
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "tail: bytes");
        return NULL;
    }
    size_t len;
    const char *tail = table_find(&self->tails, PyBytes_AS_STRING(arg), PyBytes_GET_SIZE(arg), &len);
    if (tail == NULL)
        Py_RETURN_NONE;
    return PyBytes_FromStringAndSize(tail, len);
}

static PyObject *Accel_keys(Accel *self, PyObject *arg) {
    /* The keys of the overlay (0) or of the url-prefix hosts (1) table, as a set: the Python path's sets. */
    long which = PyLong_AsLong(arg);
    if ((which != 0 && which != 1) || PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_SetString(PyExc_ValueError, "keys: 0 (overlay) or 1 (url-prefix hosts)");
        return NULL;
    }
    const Table *t = which ? &self->prefix_hosts : &self->overlay;
    PyObject *keys = PySet_New(NULL);
    for (size_t i = 0; keys != NULL && t->slots && i <= t->mask; i++) {
        if (t->slots[i].record == 0)
            continue;
        const char *record = t->arena + t->slots[i].record - 1;
        uint32_t key_len;
        memcpy(&key_len, record, 4);
        PyObject *key = PyBytes_FromStringAndSize(record + 8, key_len);
        if (key == NULL || PySet_Add(keys, key) < 0) {
            Py_XDECREF(key);
            Py_CLEAR(keys);
            break;
        }
        Py_DECREF(key);
    }
    return keys;
}

static PyObject *Accel_prefix_any_host(Accel *self, PyObject *Py_UNUSED(ignored)) {
    return PyBool_FromLong(self->prefix_any_host);
}

static PyObject *Accel_default(Accel *self, PyObject *Py_UNUSED(ignored)) {
    return PyBytes_FromStringAndSize(self->default_tail, self->default_len);
}

static PyMethodDef Accel_methods[] = {
    {"unit", (PyCFunction)Accel_unit, METH_VARARGS, Accel_unit_doc},
    {"flags", (PyCFunction)Accel_flags, METH_O, "The filter's answer for a key (bytes); None without a filter."},
    {"dumps", (PyCFunction)Accel_dumps, METH_NOARGS, "The tables (not the filter) as bytes, for load()."},
    {"tail", (PyCFunction)Accel_tail, METH_O, "The tail of a key (bytes) in the tails table, or None."},
    {"keys", (PyCFunction)Accel_keys, METH_O, "The overlay's (0) or the url-prefix hosts' (1) keys, as a set."},
    {"prefix_any_host", (PyCFunction)Accel_prefix_any_host, METH_NOARGS, "Whether a url-prefix ends in a host."},
    {"default", (PyCFunction)Accel_default, METH_NOARGS, "The default tail."},
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


static PyMethodDef module_methods[] = {
    {"load", load, METH_VARARGS, load_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "kyodaku._offline", "The compiled accelerator of the bulk offline check.", -1,
    module_methods,
};

PyMODINIT_FUNC PyInit__offline(void) {
    if (PyType_Ready(&AccelType) < 0 || PyType_Ready(&RenderedType) < 0)
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
    /* offline.compiled() uses only a build of this interface (a build left from an older checkout: not used) */
    PyModule_AddIntConstant(m, "INTERFACE", 3); /* 3: the filter's buffer is held, not copied */
#ifdef KYODAKU_OPENSSL
    PyModule_AddIntConstant(m, "HAS_SHA256", 1);
#else
    PyModule_AddIntConstant(m, "HAS_SHA256", 0);
#endif
    return m;
}
