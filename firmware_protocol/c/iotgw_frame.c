/* iotgw binary frame v1 reference encoder; see iotgw_frame.h and SPEC.md. */
#include "iotgw_frame.h"

#include <float.h>
#include <string.h>

#define MAGIC0 0x49 /* 'I' */
#define MAGIC1 0x47 /* 'G' */
#define FLAG_SITE 0x01
#define KIND_F32 1
#define KIND_F64 2
#define KIND_I32 3
#define KIND_I64 4
#define KIND_BOOL 5
#define KIND_DEC 6
#define HAS_UNIT 0x10
#define HAS_OFFSET 0x20
#define HAS_QUALITY 0x40
#define MIN_TS_MS 946684800000ULL  /* 2000-01-01T00:00:00Z */
#define MAX_TS_MS 4102444800000ULL /* 2100-01-01T00:00:00Z */

/* Unit codes, frozen for frame version 1: index = code. Same table as _units.py. */
static const char *const UNIT_CODES[] = {
    "m", "kg", "g", "s", "A", "K", "cd", "mol", "Hz", "rad",
    "sr", "N", "Pa", "J", "W", "C", "V", "F", "Ohm", "S",
    "Wb", "T", "H", "Cel", "lm", "lx", "Bq", "Gy", "Sv", "kat",
    "m2", "m3", "l", "m/s", "m/s2", "m3/s", "l/s", "W/m2", "cd/m2", "bit",
    "bit/s", "lat", "lon", "pH", "dB", "dBW", "Bspl", "count", "/", "%",
    "%RH", "%EL", "EL", "1/s", "1/min", "beat/min", "beats", "S/m", "B", "VA",
    "VAs", "var", "vars", "J/m", "kg/m3", "deg", "NTU", "ms", "min", "h",
    "MHz", "kW", "kVA", "kvar", "Ah", "Wh", "kWh", "varh", "kvarh", "kVAh",
    "Wh/km", "KiB", "GB", "Mbit/s", "B/s", "MB/s", "mV", "mA", "dBm", "ug/m3",
    "mm/h", "m/h", "ppm", "/100", "/1000", "hPa", "mm", "cm", "km", "km/h",
    "ppb", "ppt",
};
#define UNIT_COUNT (sizeof UNIT_CODES / sizeof UNIT_CODES[0])

uint16_t iotgw_crc16(const uint8_t *data, size_t len) {
    uint16_t crc = 0xFFFF;
    size_t i;
    int bit;
    for (i = 0; i < len; i++) {
        crc ^= (uint16_t)((uint16_t)data[i] << 8);
        for (bit = 0; bit < 8; bit++) {
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
        }
    }
    return crc;
}

static iotgw_status fail(iotgw_frame *f, iotgw_status status) {
    if (f->status == IOTGW_OK) {
        f->status = status;
    }
    return f->status;
}

/* Bytes of a name: 1..limit, no control characters; 0 if invalid. */
static size_t name_len(const char *s, size_t limit) {
    size_t n = 0;
    if (s == NULL) {
        return 0;
    }
    while (s[n] != '\0') {
        unsigned char c = (unsigned char)s[n];
        if (c < 0x20 || c == 0x7F || n >= limit) {
            return 0;
        }
        n++;
    }
    return n;
}

static int room(const iotgw_frame *f, size_t n) {
    size_t limit = f->cap < IOTGW_FRAME_MAX ? f->cap : IOTGW_FRAME_MAX;
    return f->len + n + 2 <= limit; /* 2: the CRC trailer */
}

static void put_le(uint8_t *p, uint64_t v, int bytes) {
    int i;
    for (i = 0; i < bytes; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

iotgw_status iotgw_begin(iotgw_frame *f, uint8_t *buf, size_t cap, const char *device,
                         const char *site, uint32_t seq, uint64_t ts_ms) {
    size_t dlen = name_len(device, IOTGW_NAME_MAX);
    size_t slen = site != NULL ? name_len(site, IOTGW_NAME_MAX) : 0;
    f->buf = buf;
    f->cap = cap;
    f->len = 0;
    f->readings = 0;
    f->status = IOTGW_OK;
    f->open = 1;
    if (buf == NULL || dlen == 0 || (site != NULL && slen == 0) || ts_ms < MIN_TS_MS ||
        ts_ms > MAX_TS_MS) {
        return fail(f, IOTGW_E_ARG);
    }
    if (!room(f, 4 + 1 + dlen + (site ? 1 + slen : 0) + 10)) {
        return fail(f, IOTGW_E_SPACE);
    }
    buf[f->len++] = MAGIC0;
    buf[f->len++] = MAGIC1;
    buf[f->len++] = IOTGW_FRAME_VERSION;
    buf[f->len++] = site != NULL ? FLAG_SITE : 0;
    buf[f->len++] = (uint8_t)dlen;
    memcpy(buf + f->len, device, dlen);
    f->len += dlen;
    if (site != NULL) {
        buf[f->len++] = (uint8_t)slen;
        memcpy(buf + f->len, site, slen);
        f->len += slen;
    }
    put_le(buf + f->len, seq, 4);
    put_le(buf + f->len + 4, ts_ms, 6);
    f->len += 10;
    return IOTGW_OK;
}

static int unit_code(const char *unit) {
    size_t i;
    for (i = 0; i < UNIT_COUNT; i++) {
        if (strcmp(unit, UNIT_CODES[i]) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* Appends one reading record: kind, value bytes, optional parts, then the name. */
static iotgw_status add(iotgw_frame *f, const char *sensor, int kind, const uint8_t *value,
                        size_t vlen, const iotgw_extra *extra) {
    uint8_t payload[8 + 1 + IOTGW_UNIT_MAX + 4 + 1 + IOTGW_NAME_MAX];
    size_t n = 0, nlen = name_len(sensor, IOTGW_NAME_MAX);
    if (f->status != IOTGW_OK) {
        return f->status;
    }
    if (!f->open) {
        return fail(f, IOTGW_E_STATE);
    }
    if (nlen == 0 || f->readings >= IOTGW_READINGS_MAX) {
        return fail(f, IOTGW_E_ARG);
    }
    memcpy(payload, value, vlen);
    n = vlen;
    if (extra != NULL && extra->unit != NULL) {
        int code = unit_code(extra->unit);
        kind |= HAS_UNIT;
        if (code >= 0) {
            payload[n++] = (uint8_t)(0x80 | code);
        } else {
            size_t ulen = name_len(extra->unit, IOTGW_UNIT_MAX);
            if (ulen == 0) {
                return fail(f, IOTGW_E_ARG);
            }
            payload[n++] = (uint8_t)ulen;
            memcpy(payload + n, extra->unit, ulen);
            n += ulen;
        }
    }
    if (extra != NULL && extra->offset_ms != 0) {
        kind |= HAS_OFFSET;
        put_le(payload + n, (uint32_t)extra->offset_ms, 4);
        n += 4;
    }
    if (extra != NULL && extra->quality != 0) {
        kind |= HAS_QUALITY;
        payload[n++] = extra->quality;
    }
    memcpy(payload + n, sensor, nlen);
    n += nlen;
    if (!room(f, 2 + n)) {
        return fail(f, IOTGW_E_SPACE);
    }
    f->buf[f->len++] = (uint8_t)kind;
    f->buf[f->len++] = (uint8_t)n;
    memcpy(f->buf + f->len, payload, n);
    f->len += n;
    f->readings++;
    return IOTGW_OK;
}

iotgw_status iotgw_add_f32(iotgw_frame *f, const char *sensor, float value,
                           const iotgw_extra *extra) {
    uint8_t v[4];
    uint32_t bits;
    if (!(value - value == 0.0f)) { /* NaN or infinity */
        return fail(f, IOTGW_E_ARG);
    }
    memcpy(&bits, &value, 4);
    put_le(v, bits, 4);
    return add(f, sensor, KIND_F32, v, 4, extra);
}

iotgw_status iotgw_add_f64(iotgw_frame *f, const char *sensor, double value,
                           const iotgw_extra *extra) {
    uint8_t v[8];
    uint64_t bits;
    if (!(value - value == 0.0)) {
        return fail(f, IOTGW_E_ARG);
    }
    memcpy(&bits, &value, 8);
    put_le(v, bits, 8);
    return add(f, sensor, KIND_F64, v, 8, extra);
}

iotgw_status iotgw_add_double(iotgw_frame *f, const char *sensor, double value,
                              const iotgw_extra *extra) {
    if (value >= -FLT_MAX && value <= FLT_MAX && (double)(float)value == value) {
        return iotgw_add_f32(f, sensor, (float)value, extra);
    }
    return iotgw_add_f64(f, sensor, value, extra);
}

iotgw_status iotgw_add_decimal(iotgw_frame *f, const char *sensor, int32_t mantissa,
                               int8_t exponent, const iotgw_extra *extra) {
    uint8_t v[5];
    put_le(v, (uint32_t)mantissa, 4);
    v[4] = (uint8_t)exponent;
    return add(f, sensor, KIND_DEC, v, 5, extra);
}

iotgw_status iotgw_add_i32(iotgw_frame *f, const char *sensor, int32_t value,
                           const iotgw_extra *extra) {
    uint8_t v[4];
    put_le(v, (uint32_t)value, 4);
    return add(f, sensor, KIND_I32, v, 4, extra);
}

iotgw_status iotgw_add_i64(iotgw_frame *f, const char *sensor, int64_t value,
                           const iotgw_extra *extra) {
    uint8_t v[8];
    put_le(v, (uint64_t)value, 8);
    return add(f, sensor, KIND_I64, v, 8, extra);
}

iotgw_status iotgw_add_int(iotgw_frame *f, const char *sensor, int64_t value,
                           const iotgw_extra *extra) {
    if (value >= INT32_MIN && value <= INT32_MAX) {
        return iotgw_add_i32(f, sensor, (int32_t)value, extra);
    }
    return iotgw_add_i64(f, sensor, value, extra);
}

iotgw_status iotgw_add_bool(iotgw_frame *f, const char *sensor, int value,
                            const iotgw_extra *extra) {
    uint8_t v = value ? 1 : 0;
    return add(f, sensor, KIND_BOOL, &v, 1, extra);
}

size_t iotgw_finish(iotgw_frame *f) {
    uint16_t crc;
    if (f->status == IOTGW_OK && !f->open) {
        fail(f, IOTGW_E_STATE);
    }
    if (f->status == IOTGW_OK && f->readings == 0) {
        fail(f, IOTGW_E_ARG);
    }
    if (f->status != IOTGW_OK) {
        return 0;
    }
    crc = iotgw_crc16(f->buf, f->len);
    f->buf[f->len++] = (uint8_t)(crc & 0xFF);
    f->buf[f->len++] = (uint8_t)(crc >> 8);
    f->open = 0;
    return f->len;
}
