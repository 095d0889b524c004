/** @file
 * Bounds-checked wire cursor with a sticky error, for SMPP and the text codecs.
 *
 * A cursor walks a caller-owned buffer. Every read or write checks the space
 * left first; the first failure records an error, and from then on every read
 * returns zero and every write is a no-op, so a parser can run straight through
 * and test wire_ok() once at the end. Nothing is allocated; the cursor never
 * owns the buffer. Big-endian integers, as SMPP uses.
 */
#ifndef USSDGW_SMPP_WIRE_H
#define USSDGW_SMPP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct wire {
	uint8_t *base; /**< start (writes) or NULL for read-only cursors */
	const uint8_t *rbase;
	size_t len;
	size_t pos;
	int err; /**< 0, or the first error (a negative GW_E* code) */
};

static inline void wire_init_read(struct wire *w, const uint8_t *buf, size_t len)
{
	w->base = NULL;
	w->rbase = buf;
	w->len = len;
	w->pos = 0;
	w->err = 0;
}

static inline void wire_init_write(struct wire *w, uint8_t *buf, size_t cap)
{
	w->base = buf;
	w->rbase = buf;
	w->len = cap;
	w->pos = 0;
	w->err = 0;
}

static inline size_t wire_left(const struct wire *w)
{
	return w->err ? 0 : w->len - w->pos;
}

static inline bool wire_ok(const struct wire *w)
{
	return w->err == 0;
}

/** Record @p err unless an earlier error is already recorded. */
static inline void wire_fail(struct wire *w, int err)
{
	if (!w->err)
		w->err = err;
}

/** @return true and reserve nothing when @p n bytes remain; else fail with @p err. */
static inline bool wire_need(struct wire *w, size_t n, int err)
{
	if (w->err)
		return false;
	if (w->len - w->pos < n) {
		w->err = err;
		return false;
	}
	return true;
}

static inline uint8_t wire_get_u8(struct wire *w, int err)
{
	if (!wire_need(w, 1, err))
		return 0;
	return w->rbase[w->pos++];
}

static inline uint16_t wire_get_u16(struct wire *w, int err)
{
	if (!wire_need(w, 2, err))
		return 0;
	const uint8_t *p = w->rbase + w->pos;
	w->pos += 2;
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t wire_get_u32(struct wire *w, int err)
{
	if (!wire_need(w, 4, err))
		return 0;
	const uint8_t *p = w->rbase + w->pos;
	w->pos += 4;
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/** @return a pointer to @p n bytes inside the buffer (zero-copy), or NULL on failure. */
static inline const uint8_t *wire_get_ref(struct wire *w, size_t n, int err)
{
	if (!wire_need(w, n, err))
		return NULL;
	const uint8_t *p = w->rbase + w->pos;
	w->pos += n;
	return p;
}

static inline void wire_put_u8(struct wire *w, uint8_t v, int err)
{
	if (!wire_need(w, 1, err))
		return;
	w->base[w->pos++] = v;
}

static inline void wire_put_u16(struct wire *w, uint16_t v, int err)
{
	if (!wire_need(w, 2, err))
		return;
	w->base[w->pos] = (uint8_t)(v >> 8);
	w->base[w->pos + 1] = (uint8_t)v;
	w->pos += 2;
}

static inline void wire_put_u32(struct wire *w, uint32_t v, int err)
{
	if (!wire_need(w, 4, err))
		return;
	uint8_t *p = w->base + w->pos;
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	w->pos += 4;
}

static inline void wire_put_bytes(struct wire *w, const void *src, size_t n, int err)
{
	if (!wire_need(w, n, err))
		return;
	if (n)
		memcpy(w->base + w->pos, src, n);
	w->pos += n;
}

/** Overwrite a big-endian u32 at absolute offset @p at (already written). */
static inline void wire_patch_u32(struct wire *w, size_t at, uint32_t v)
{
	if (w->err || at + 4 > w->pos)
		return;
	uint8_t *p = w->base + at;
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

#endif
