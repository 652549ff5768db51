/*
 * iotgw binary frame v1: reference encoder for device firmware (C99, no malloc).
 *
 * The caller owns the buffer (at most IOTGW_FRAME_MAX bytes are ever used):
 *
 *     uint8_t buf[IOTGW_FRAME_MAX];
 *     iotgw_frame f;
 *     iotgw_extra celsius = {"Cel", 0, 0};
 *     iotgw_begin(&f, buf, sizeof buf, "pump-7", NULL, seq, now_ms);
 *     iotgw_add_double(&f, "temperature", 21.5, &celsius);
 *     iotgw_add_decimal(&f, "battery", 371, -2, NULL);        -- 3.71
 *     iotgw_add_bool(&f, "door_open", 1, NULL);
 *     size_t n = iotgw_finish(&f);                           -- 0 if any call failed
 *
 * Errors are sticky: after the first failure every call returns the same status and
 * iotgw_finish returns 0, so firmware may check once at the end. See SPEC.md for the format.
 */
#ifndef IOTGW_FRAME_H
#define IOTGW_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define IOTGW_FRAME_VERSION 1
#define IOTGW_FRAME_MAX 4096    /* largest frame, CRC included */
#define IOTGW_NAME_MAX 64       /* device, site and sensor names, UTF-8 bytes */
#define IOTGW_UNIT_MAX 16       /* unit strings, UTF-8 bytes */
#define IOTGW_READINGS_MAX 255

typedef enum {
    IOTGW_OK = 0,
    IOTGW_E_SPACE = 1,  /* the buffer (or IOTGW_FRAME_MAX) is full */
    IOTGW_E_ARG = 2,    /* a name, unit, value or timestamp breaks a limit */
    IOTGW_E_STATE = 3   /* no iotgw_begin, or already finished */
} iotgw_status;

/* Optional parts of a reading; pass NULL for none. Zero offset/quality are not sent. */
typedef struct {
    const char *unit;   /* NULL: no unit; table units travel as one byte */
    int32_t offset_ms;  /* from the frame timestamp */
    uint8_t quality;    /* flags: 1 estimated, 2 sensor fault, 4 out of range, ... */
} iotgw_extra;

typedef struct {
    uint8_t *buf;
    size_t cap;
    size_t len;
    unsigned readings;
    iotgw_status status;
    int open;
} iotgw_frame;

iotgw_status iotgw_begin(iotgw_frame *f, uint8_t *buf, size_t cap, const char *device,
                         const char *site, uint32_t seq, uint64_t ts_ms);
iotgw_status iotgw_add_f32(iotgw_frame *f, const char *sensor, float value,
                           const iotgw_extra *extra);
iotgw_status iotgw_add_f64(iotgw_frame *f, const char *sensor, double value,
                           const iotgw_extra *extra);
/* f32 when the value is exact in f32, else f64 (never loses precision). */
iotgw_status iotgw_add_double(iotgw_frame *f, const char *sensor, double value,
                              const iotgw_extra *extra);
/* value = mantissa * 10^exponent, e.g. (2150, -2) for 21.50: 5 bytes, exact decimals. */
iotgw_status iotgw_add_decimal(iotgw_frame *f, const char *sensor, int32_t mantissa,
                               int8_t exponent, const iotgw_extra *extra);
iotgw_status iotgw_add_i32(iotgw_frame *f, const char *sensor, int32_t value,
                           const iotgw_extra *extra);
iotgw_status iotgw_add_i64(iotgw_frame *f, const char *sensor, int64_t value,
                           const iotgw_extra *extra);
/* i32 when it fits, else i64. */
iotgw_status iotgw_add_int(iotgw_frame *f, const char *sensor, int64_t value,
                           const iotgw_extra *extra);
iotgw_status iotgw_add_bool(iotgw_frame *f, const char *sensor, int value,
                            const iotgw_extra *extra);
/* Appends the CRC; returns the frame length, or 0 if any call failed (see f->status). */
size_t iotgw_finish(iotgw_frame *f);

/* CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final xor. */
uint16_t iotgw_crc16(const uint8_t *data, size_t len);

#endif /* IOTGW_FRAME_H */
