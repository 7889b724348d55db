"""The Numba kernels behind :func:`pastegen.kernels.render_tuple` (private).

Everything here is a top-level ``@njit(cache=True)`` function of arrays and scalars: no Python
objects, no RNG. All helpers live in this one file on purpose: Numba's on-disk cache of a
function is invalidated by its own source file's timestamp only, so a caller cached next to an
edited helper in another file would keep running the stale helper.

One call renders a whole tuple in two parallel passes over the rows of the image:

- serial set-up, O(H + W): the mask as one x-span per row (the exact pixels of
  :func:`pastegen.components.mask.rasterize`: the predicate decides the span ends), the offsets
  of each row's masked pixels in the planar scratch buffer, the row blocks of each pass (equal
  work per block), and the column tables of the mixing field;
- pass 1, masked pixels only: the bilinear homography warp into planar float32 scratch rows
  (R, G, B, 0-255 scale) and per-row float64 channel sums;
- serial: the row sums added in row order (the contrast means do not depend on the blocks, so
  neither does anything else), and the affine contrast coefficients of both colour transforms;
- pass 2, every pixel: the block's rows written first as if unmasked (``I_T = I``, ``I_S = 0``,
  ``M = 0``: flat loops over contiguous memory, about 2.5x faster than the same writes cut at
  each span; uint8 rows without a masked span, final at once, with streaming stores that
  bypass the caches), then on each masked span the mixing field, both colour transforms (branchless
  HSV hue shift and saturation scale on planar rows, which LLVM vectorises), eq. 3, the
  quantisation (planar, then one byte interleave) and the span's ``I_T``, ``I_S`` and ``M``.

:func:`_kernel_batch` is one worker of :func:`pastegen.kernels.render_tuples`: several of them,
on Python threads (the kernels release the GIL), claim whole tuples of one batch and render each
with the serial kernel.

Every output pixel is a function of its own row only, computed by the same instructions whatever
the block it falls in, and no floating-point reduction crosses rows except the fixed-order one
above: results are bit-identical for any number of threads, and between the serial and the
parallel drivers. Nothing uses fast-math (no FMA contraction, no reassociation), which is what
makes the vectorised and scalar remainders of a loop agree to the bit.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import config, njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

# float32 constants (a bare ``1.0`` would promote float32 arithmetic to float64)
_F0 = np.float32(0.0)
_F1 = np.float32(1.0)
_F2 = np.float32(2.0)
_F3 = np.float32(3.0)
_F4 = np.float32(4.0)
_F5 = np.float32(5.0)
_F6 = np.float32(6.0)
_F255 = np.float32(255.0)
_FHALF = np.float32(0.5)


#: Source coordinates beyond this (or not finite) are clamped: no undefined float->int casts.
_COORD_LIMIT = 4.0e15

#: Relative cost of a masked pixel against an unmasked one in pass 2 (for the row blocks only;
#: results never depend on it).
_MASKED_COST = 12


if config.DISABLE_JIT:  # type: ignore[attr-defined]  # a numba.config option, set at import

    def _claim(counters, i):
        """Python stand-in of the atomic fetch-and-add (kernels run as plain Python)."""
        k = counters[i]
        counters[i] += 1
        return k

else:

    @intrinsic
    def _claim(typingctx, counters, i):
        """``counters[i]++`` as one atomic fetch-and-add; returns the old value."""
        if not (isinstance(counters, types.Array) and counters.dtype == types.int64 and isinstance(i, types.Integer)):
            return None

        def codegen(context, builder, sig, args):
            aryty = sig.args[0]
            ary = context.make_array(aryty)(context, builder, args[0])
            idx = context.cast(builder, args[1], sig.args[1], types.intp)
            ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [idx], wraparound=False)
            return builder.atomic_rmw("add", ptr, context.get_constant(types.int64, 1), "monotonic")

        return types.int64(counters, i), codegen


#: Bytes per non-temporal store of :func:`_stream_bytes` (one cache line).
_LINE = 64

if config.DISABLE_JIT:  # type: ignore[attr-defined]  # a numba.config option, set at import

    def _stream_lines(dst, dst_start, src, src_start, lines, zero):
        """Python stand-in of the streaming copy (plain stores)."""
        n = lines * _LINE
        if zero:
            dst[dst_start : dst_start + n] = 0
        else:
            dst[dst_start : dst_start + n] = src[src_start : src_start + n]

    def _store_fence():
        """Python stand-in of the store fence (nothing to order)."""

else:

    @intrinsic
    def _stream_lines(typingctx, dst, dst_start, src, src_start, lines, zero):
        """``lines`` cache lines of ``dst`` from ``dst_start`` (64-byte aligned in memory) set to
        ``src[src_start:]`` or to 0, with non-temporal stores: written around the caches, so
        large outputs cost one memory write per line instead of a read and a write. uint8 1-D
        contiguous arrays; the caller checks the bounds and the alignment."""
        ok = all(isinstance(a, types.Array) and a.dtype == types.uint8 and a.ndim == 1 for a in (dst, src))
        if not (ok and all(isinstance(a, types.Integer) for a in (dst_start, src_start, lines)) and isinstance(zero, types.Boolean)):
            return None

        def codegen(context, builder, sig, args):
            dty, _, sty = sig.args[:3]
            d = context.make_array(dty)(context, builder, args[0])
            s = context.make_array(sty)(context, builder, args[2])
            intp = context.get_value_type(types.intp)
            dstart = context.cast(builder, args[1], sig.args[1], types.intp)
            sstart = context.cast(builder, args[3], sig.args[3], types.intp)
            lines = context.cast(builder, args[4], sig.args[4], types.intp)
            zero = context.cast(builder, args[5], sig.args[5], types.boolean)
            line = ir.VectorType(ir.IntType(8), _LINE)
            byte_ptr = ir.IntType(8).as_pointer()
            dbase = builder.gep(builder.bitcast(d.data, byte_ptr), [dstart])
            sbase = builder.gep(builder.bitcast(s.data, byte_ptr), [sstart])
            hint = builder.module.add_metadata([ir.Constant(ir.IntType(32), 1)])
            with cgutils.for_range(builder, lines) as loop:
                off = builder.mul(loop.index, ir.Constant(intp, _LINE))
                dp = builder.bitcast(builder.gep(dbase, [off]), line.as_pointer())
                with builder.if_else(zero) as (zeros, copies):
                    with zeros:
                        builder.store(ir.Constant(line, None), dp, align=_LINE).set_metadata("nontemporal", hint)
                    with copies:
                        sp = builder.bitcast(builder.gep(sbase, [off]), line.as_pointer())
                        value = builder.load(sp, align=1)
                        builder.store(value, dp, align=_LINE).set_metadata("nontemporal", hint)
            return context.get_dummy_value()

        return types.void(dst, dst_start, src, src_start, lines, zero), codegen

    @intrinsic
    def _store_fence(typingctx):
        """A full memory fence: orders the non-temporal stores before whatever follows (another
        thread reading the outputs after the parallel region)."""

        def codegen(context, builder, sig, args):
            builder.fence("seq_cst")
            return context.get_dummy_value()

        return types.void(), codegen


# colour-coefficient layout: coef[t] = (a_r, a_g, a_b, c_r, c_g, c_b, hue6, saturation)
# parameter layout:          tp[t]   = (brightness, l_r, l_g, l_b, hue6, saturation)


@njit(cache=True, nogil=True, error_model="numpy")
def _inside(x, y, cx, cy, c, s, hw, hh):
    """The predicate of ``mask.rasterize`` for pixel (x, y), in the same float64 operations."""
    dx = float(x) - cx
    dy = float(y) - cy
    u = dx * c - dy * s
    v = dx * s + dy * c
    return abs(u) <= hw and abs(v) <= hh


@njit(cache=True, nogil=True, error_model="numpy")
def _interval(p, q, a):
    """The set of dx with ``dx * a`` in [p, q], as (lo, hi); (1, 0) when empty."""
    if a > 0.0:
        return p / a, q / a
    if a < 0.0:
        return q / a, p / a
    if p <= 0.0 <= q:
        return -np.inf, np.inf
    return 1.0, 0.0


@njit(cache=True, nogil=True, error_model="numpy")
def _mask_spans(height, width, cx, cy, c, s, hw, hh, x0s, x1s):
    """One span ``[x0s[y], x1s[y])`` per row; returns the number of masked pixels.

    The analytic intersection of the row with the rectangle, widened by a pixel each side, is
    shrunk (and, if need be, grown) with the exact predicate, so the span ends are decided by the
    same float64 test as ``rasterize``. The pixels of a row passing that test are contiguous even
    with rounding: along a row, u and v are monotone functions of x (IEEE rounding is monotone).
    """
    total = 0
    for y in range(height):
        dy = float(y) - cy
        lo_u, hi_u = _interval(dy * s - hw, dy * s + hw, c)
        lo_v, hi_v = _interval(-dy * c - hh, -dy * c + hh, s)
        lo = max(lo_u, lo_v) + cx
        hi = min(hi_u, hi_v) + cx
        xa = 0
        xb = -1
        if lo <= hi + 2.0 and hi >= -2.0 and lo <= width + 1.0:
            lo = max(lo, -2.0)
            hi = min(hi, width + 1.0)
            xa = max(int(np.floor(lo)) - 1, 0)
            xb = min(int(np.ceil(hi)) + 1, width - 1)
            while xa <= xb and not _inside(xa, y, cx, cy, c, s, hw, hh):
                xa += 1
            while xb >= xa and not _inside(xb, y, cx, cy, c, s, hw, hh):
                xb -= 1
            if xb >= xa:  # (only ill-conditioned bounds, near 0 or 90 degrees, can move these)
                while xa > 0 and _inside(xa - 1, y, cx, cy, c, s, hw, hh):
                    xa -= 1
                while xb < width - 1 and _inside(xb + 1, y, cx, cy, c, s, hw, hh):
                    xb += 1
        if xb >= xa:
            x0s[y] = xa
            x1s[y] = xb + 1
            total += xb + 1 - xa
        else:
            x0s[y] = 0
            x1s[y] = 0
    return total


@njit(cache=True, nogil=True, error_model="numpy")
def _split(prefix, nblocks, bounds):
    """Row blocks of equal cost: block k is rows ``bounds[k]:bounds[k+1]`` (prefix: H+1 sums)."""
    height = prefix.shape[0] - 1
    total = prefix[height]
    y = 0
    bounds[0] = 0
    for k in range(1, nblocks):
        while y < height and prefix[y] * nblocks < total * k:
            y += 1
        bounds[k] = y
    bounds[nblocks] = height


@njit(cache=True, nogil=True, error_model="numpy")
def _reflect(i, n):
    """Reflect-101 index (``d c b | a b c d | c b a``), as ``geometric._reflect``."""
    if n == 1:
        return 0
    period = 2 * (n - 1)
    i = abs(i) % period
    if i >= n:
        return period - i
    return i


@njit(cache=True, nogil=True, error_model="numpy")
def _row_sum(x):
    """float64 sum of a float32 row in a fixed order (8 interleaved partial sums, then a tree)."""
    n = x.shape[0]
    n8 = n - n % 8
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
    for j in range(0, n8, 8):
        a0 += x[j]
        a1 += x[j + 1]
        a2 += x[j + 2]
        a3 += x[j + 3]
        a4 += x[j + 4]
        a5 += x[j + 5]
        a6 += x[j + 6]
        a7 += x[j + 7]
    t = 0.0
    for j in range(n8, n):
        t += x[j]
    return (((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))) + t


@njit(cache=True, nogil=True, error_model="numpy")
def _source_coords(h, y, xa, n, ixs, iys, fxs, fys, sxs, sys_):
    """Where the span's pixels sample the input: integer taps and float32 fractions (vectorised).

    ``H⁻¹ q`` in float64 with the operation order of ``geometric.source_coordinates``;
    non-finite or huge coordinates are clamped (far outside) so no float->int cast is undefined.
    Two loops: the projective division alone (into the float64 rows ``sxs``, ``sys_``) vectorises,
    which the fused loop with the casts did not (half the time on AVX-512; the same numbers).
    """
    fyy = float(y)
    h01y = h[0, 1] * fyy
    h11y = h[1, 1] * fyy
    h21y = h[2, 1] * fyy
    h00 = h[0, 0]
    h02 = h[0, 2]
    h10 = h[1, 0]
    h12 = h[1, 2]
    h20 = h[2, 0]
    h22 = h[2, 2]
    for j in range(n):
        fxx = float(xa + j)
        den = h20 * fxx + h21y + h22
        sxs[j] = (h00 * fxx + h01y + h02) / den
        sys_[j] = (h10 * fxx + h11y + h12) / den
    for j in range(n):
        sx = sxs[j]
        sy = sys_[j]
        sx = sx if abs(sx) < _COORD_LIMIT else -_COORD_LIMIT
        sy = sy if abs(sy) < _COORD_LIMIT else -_COORD_LIMIT
        xf = np.floor(sx)
        yf = np.floor(sy)
        fxs[j] = np.float32(sx - xf)
        fys[j] = np.float32(sy - yf)
        ixs[j] = int(xf)
        iys[j] = int(yf)


@njit(cache=True, nogil=True, error_model="numpy")
def _border_taps(ix, iy, width, height, constant, w00, w01, w10, w11):
    """Tap indices (clamped or reflected) and weights (zeroed outside, constant border)."""
    if constant:
        if ix < 0 or ix >= width:
            w00 = _F0
            w10 = _F0
        if ix + 1 < 0 or ix + 1 >= width:
            w01 = _F0
            w11 = _F0
        if iy < 0 or iy >= height:
            w00 = _F0
            w01 = _F0
        if iy + 1 < 0 or iy + 1 >= height:
            w10 = _F0
            w11 = _F0
        xi0 = min(max(ix, 0), width - 1)
        xi1 = min(max(ix + 1, 0), width - 1)
        yi0 = min(max(iy, 0), height - 1)
        yi1 = min(max(iy + 1, 0), height - 1)
    else:
        xi0 = _reflect(ix, width)
        xi1 = _reflect(ix + 1, width)
        yi0 = _reflect(iy, height)
        yi1 = _reflect(iy + 1, height)
    return xi0, xi1, yi0, yi1, w00, w01, w10, w11


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _bilinear(fx, fy, v00, v01, v10, v11):
    """One channel of one pixel: the weights and the four taps in the order of ``geometric.apply``."""
    wx0 = _F1 - fx
    wy0 = _F1 - fy
    return wy0 * wx0 * v00 + wy0 * fx * v01 + fy * wx0 * v10 + fy * fx * v11


@njit(cache=True, nogil=True, error_model="numpy")
def _gather_run(row0, row1, fx3, fy3, out3, m3):
    """Interior run, interleaved: element k (pixel k // 3, channel k % 3) blends ``row0[k]``,
    ``row0[k + 3]``, ``row1[k]``, ``row1[k + 3]`` (contiguous loads: vectorised).
    ``fx3``/``fy3`` hold each pixel's fractions three times."""
    for k in range(m3):
        out3[k] = _bilinear(
            fx3[k], fy3[k], np.float32(row0[k]), np.float32(row0[k + 3]), np.float32(row1[k]), np.float32(row1[k + 3])
        )


@njit(cache=True, nogil=True, error_model="numpy")
def _gather16(row0, row1, fx3, fy3, out3):
    """:func:`_gather_run` on exactly 16 elements (a fixed trip count: vectorised without a remainder)."""
    for k in range(16):
        out3[k] = _bilinear(
            fx3[k], fy3[k], np.float32(row0[k]), np.float32(row0[k + 3]), np.float32(row1[k]), np.float32(row1[k + 3])
        )


@njit(cache=True, nogil=True, error_model="numpy")
def _warp_rows(y_start, y_end, image, hinv, constant, x0s, x1s, offs, scratch, rowsums):
    """Pass 1: warp the masked pixels of rows ``y_start:y_end`` into planar scratch rows.

    Same arithmetic as ``geometric.apply`` on a uint8 image: float32 weights, the four taps
    accumulated in the order (0, 0), (0, 1), (1, 0), (1, 1), values on the 0-255 scale. Inside
    the image, consecutive pixels usually step one column right on the same rows (the warp is
    close to the identity, ~30 pixels per run on face tuples): each such run samples two
    contiguous stretches of source rows, which :func:`_gather16` blends interleaved, 16 elements
    (channel values) at a time in a loop of fixed length (fully vectorised, no remainder loop),
    into an interleaved row (same operations per
    pixel and channel); the other pixels take the scalar border path. The row is then split
    into the planar scratch rows.
    """
    height = image.shape[0]
    width = image.shape[1]
    stride = 3 * width
    flat = image.ravel()
    ixs = np.empty(width, np.int64)
    iys = np.empty(width, np.int64)
    fxs = np.empty(width, np.float32)
    fys = np.empty(width, np.float32)
    sxs = np.empty(width, np.float64)
    sys_ = np.empty(width, np.float64)
    # interleaved rows (element 3·j + c: pixel j, channel c), 16 spare elements for _gather16
    fx3 = np.empty(3 * width + 16, np.float32)
    fy3 = np.empty(3 * width + 16, np.float32)
    out3 = np.empty(3 * width + 16, np.float32)
    for y in range(y_start, y_end):
        xa = x0s[y]
        n = x1s[y] - xa
        o = offs[y]
        out_r = scratch[0, o : o + n]
        out_g = scratch[1, o : o + n]
        out_b = scratch[2, o : o + n]
        _source_coords(hinv, y, xa, n, ixs, iys, fxs, fys, sxs, sys_)
        for j in range(n):
            fx = fxs[j]
            fy = fys[j]
            fx3[3 * j] = fx
            fx3[3 * j + 1] = fx
            fx3[3 * j + 2] = fx
            fy3[3 * j] = fy
            fy3[3 * j + 1] = fy
            fy3[3 * j + 2] = fy
        j = 0
        while j < n:
            ix = ixs[j]
            iy = iys[j]
            if ix >= 0 and iy >= 0 and ix < width - 1 and iy < height - 1:
                e = j + 1
                lim = min(n, j + (width - 1 - ix))
                while e < lim and iys[e] == iy and ixs[e] == ix + (e - j):
                    e += 1
                m3 = 3 * (e - j)
                p = iy * stride + 3 * ix
                k = 3 * j
                if p + stride + m3 + 19 <= flat.shape[0]:
                    # whole 16-element chunks; the last one runs past the run's end into elements
                    # that later runs or border pixels (processed in order) overwrite
                    for q in range(0, m3, 16):
                        _gather16(
                            flat[p + q : p + q + 19], flat[p + stride + q : p + stride + q + 19],
                            fx3[k + q : k + q + 16], fy3[k + q : k + q + 16], out3[k + q : k + q + 16],
                        )  # fmt: skip
                else:
                    _gather_run(
                        flat[p : p + m3 + 3], flat[p + stride : p + stride + m3 + 3],
                        fx3[k : k + m3], fy3[k : k + m3], out3[k : k + m3], m3,
                    )  # fmt: skip
                j = e
            else:
                fx = fxs[j]
                fy = fys[j]
                wx0 = _F1 - fx
                wy0 = _F1 - fy
                w00 = wy0 * wx0
                w01 = wy0 * fx
                w10 = fy * wx0
                w11 = fy * fx
                xi0, xi1, yi0, yi1, w00, w01, w10, w11 = _border_taps(ix, iy, width, height, constant, w00, w01, w10, w11)
                r = w00 * np.float32(image[yi0, xi0, 0]) + w01 * np.float32(image[yi0, xi1, 0])
                g = w00 * np.float32(image[yi0, xi0, 1]) + w01 * np.float32(image[yi0, xi1, 1])
                b = w00 * np.float32(image[yi0, xi0, 2]) + w01 * np.float32(image[yi0, xi1, 2])
                r = r + w10 * np.float32(image[yi1, xi0, 0]) + w11 * np.float32(image[yi1, xi1, 0])
                g = g + w10 * np.float32(image[yi1, xi0, 1]) + w11 * np.float32(image[yi1, xi1, 1])
                b = b + w10 * np.float32(image[yi1, xi0, 2]) + w11 * np.float32(image[yi1, xi1, 2])
                out3[3 * j] = r
                out3[3 * j + 1] = g
                out3[3 * j + 2] = b
                j += 1
        for j in range(n):
            out_r[j] = out3[3 * j]
            out_g[j] = out3[3 * j + 1]
            out_b[j] = out3[3 * j + 2]
        rowsums[y, 0] = _row_sum(out_r)
        rowsums[y, 1] = _row_sum(out_g)
        rowsums[y, 2] = _row_sum(out_b)


@njit(cache=True, nogil=True, error_model="numpy")
def _copy_rows(y_start, y_end, img2, offs, scratch, rowsums, x0s, x1s):
    """Pass 1 for the identity warp (zero offsets): the masked pixels copied exactly."""
    for y in range(y_start, y_end):
        xa = x0s[y]
        n = x1s[y] - xa
        o = offs[y]
        src = img2[y, 3 * xa : 3 * (xa + n)]
        out_r = scratch[0, o : o + n]
        out_g = scratch[1, o : o + n]
        out_b = scratch[2, o : o + n]
        for j in range(n):
            out_r[j] = np.float32(src[3 * j])
            out_g[j] = np.float32(src[3 * j + 1])
            out_b[j] = np.float32(src[3 * j + 2])
        rowsums[y, 0] = _row_sum(out_r)
        rowsums[y, 1] = _row_sum(out_g)
        rowsums[y, 2] = _row_sum(out_b)


@njit(cache=True, nogil=True, error_model="numpy")
def _coefficients(rowsums, count, tp, coef):
    """Contrast means (float64, rows added in order) and the per-channel affine coefficients.

    ``T_c(T_b(w / 255)) = (w/255 + b − m)·λ + m = w·(λ/255) + (λ·(b − m) + m)`` with
    ``m = mean(w)/255 + b`` over the mask.
    """
    t_r = 0.0
    t_g = 0.0
    t_b = 0.0
    for y in range(rowsums.shape[0]):
        t_r += rowsums[y, 0]
        t_g += rowsums[y, 1]
        t_b += rowsums[y, 2]
    n = float(max(count, 1))
    means = (t_r / n / 255.0, t_g / n / 255.0, t_b / n / 255.0)
    for t in range(tp.shape[0]):
        bright = tp[t, 0]
        for ch in range(3):
            lam = tp[t, 1 + ch]
            m = means[ch] + bright
            coef[t, ch] = np.float32(lam / 255.0)
            coef[t, 3 + ch] = np.float32(lam * (bright - m) + m)
        coef[t, 6] = np.float32(tp[t, 4])
        coef[t, 7] = np.float32(tp[t, 5])


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _trapezoid(h, n):
    """``max(0, min(k, 4 − k, 1))`` with ``k = (n + h) mod 6``: HSV->RGB without sectors."""
    k = h + n
    k = k - _F6 if k >= _F6 else k
    t = min(k, _F4 - k)
    t = min(t, _F1)
    return max(t, _F0)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _color(w_r, w_g, w_b, a_r, a_g, a_b, c_r, c_g, c_b, hue6, sat):
    """One colour transform of one pixel (planar float32 in, float32 out), branchless.

    Brightness and contrast as one affine map per channel, clip to [0, 1], then hue + Δ (mod 1)
    and saturation·k (clipped to 1) of scikit-image's HSV in closed form: with V = max,
    ``V·S' = min(Δ_rgb·k, V)`` and each channel ``V − V·S'·trapezoid((n + 6H') mod 6)``,
    n = 5, 3, 1 for R, G, B.
    """
    r = min(max(w_r * a_r + c_r, _F0), _F1)
    g = min(max(w_g * a_g + c_g, _F0), _F1)
    b = min(max(w_b * a_b + c_b, _F0), _F1)
    v = max(r, max(g, b))
    d = v - min(r, min(g, b))
    dd = d if d > _F0 else _F1
    rmax = r == v
    gmax = g == v
    num = (g - b) if rmax else ((b - r) if gmax else (r - g))
    off = _F0 if rmax else (_F2 if gmax else _F4)
    h = off + num / dd
    h = h + _F6 if h < _F0 else h
    h = h + hue6
    h = h - _F6 if h >= _F6 else h
    sv = min(d * sat, v)
    return (
        v - sv * _trapezoid(h, _F5),
        v - sv * _trapezoid(h, _F3),
        v - sv * _trapezoid(h, _F1),
    )


@njit(cache=True, nogil=True, error_model="numpy")
def _color_span(r_row, g_row, b_row, m_row, n, coef, blend):
    """Both colour transforms and eq. 3 on one planar span, results written in place."""
    a_r = coef[0, 0]
    a_g = coef[0, 1]
    a_b = coef[0, 2]
    c_r = coef[0, 3]
    c_g = coef[0, 4]
    c_b = coef[0, 5]
    hue6 = coef[0, 6]
    sat = coef[0, 7]
    if not blend:
        for j in range(n):
            o_r, o_g, o_b = _color(r_row[j], g_row[j], b_row[j], a_r, a_g, a_b, c_r, c_g, c_b, hue6, sat)
            r_row[j] = o_r
            g_row[j] = o_g
            b_row[j] = o_b
        return
    a2_r = coef[1, 0]
    a2_g = coef[1, 1]
    a2_b = coef[1, 2]
    c2_r = coef[1, 3]
    c2_g = coef[1, 4]
    c2_b = coef[1, 5]
    hue62 = coef[1, 6]
    sat2 = coef[1, 7]
    for j in range(n):
        w_r = r_row[j]
        w_g = g_row[j]
        w_b = b_row[j]
        p_r, p_g, p_b = _color(w_r, w_g, w_b, a_r, a_g, a_b, c_r, c_g, c_b, hue6, sat)
        q_r, q_g, q_b = _color(w_r, w_g, w_b, a2_r, a2_g, a2_b, c2_r, c2_g, c2_b, hue62, sat2)
        m = m_row[j]
        mc = _F1 - m
        r_row[j] = min(max(p_r * m + q_r * mc, _F0), _F1)
        g_row[j] = min(max(p_g * m + q_g * mc, _F0), _F1)
        b_row[j] = min(max(p_b * m + q_b * mc, _F0), _F1)


@njit(cache=True, nogil=True, error_model="numpy")
def _axis_table(n_out, n_in, i0s, i1s, fs, ws, ends):
    """Bilinear upsampling taps of one axis, as ``mix._axis_weights`` (half-pixel, clamped).

    ``fs`` and ``ws = 1 − fs`` are the float32 weights of taps ``i1s`` and ``i0s``; ``ends[k]``
    is the first index after ``k`` whose taps differ (segments of equal taps, vectorised).
    """
    scale = n_in / n_out
    for k in range(n_out):
        u = (float(k) + 0.5) * scale - 0.5
        u = min(max(u, 0.0), float(n_in - 1))
        i0 = int(np.floor(u))
        i0s[k] = i0
        i1s[k] = min(i0 + 1, n_in - 1)
        fs[k] = np.float32(u - i0)
        ws[k] = _F1 - fs[k]
    ends[n_out - 1] = n_out
    for k in range(n_out - 2, -1, -1):
        ends[k] = ends[k + 1] if (i0s[k] == i0s[k + 1] and i1s[k] == i1s[k + 1]) else k + 1


@njit(cache=True, nogil=True, error_model="numpy")
def _compose_rows(
    y_start, y_end, img2, it2, is2, mask, x0s, x1s, offs, scratch, coef, blend, grid, c0s, c1s, fcs, wcs, ends, quant
):
    """Pass 2 on rows ``y_start:y_end``: colour the masked span, then write the three outputs.

    ``img2``, ``it2``, ``is2`` are (H, 3W) views. ``quant``: uint8 outputs (rounding half up)
    rather than float32 in [0, 1].
    """
    width = mask.shape[1]
    gh = grid.shape[0]
    gw = grid.shape[1]
    grow = np.empty(gw, np.float32)
    qrow = np.empty((3, width), np.uint8)
    scale_r = gh / mask.shape[0]
    # first the block as if unmasked (I_T = I, I_S = 0, M = 0: flat loops over contiguous rows,
    # vectorised), then each span overwritten
    _outside_rows(y_start, y_end, img2, it2, is2, mask, x0s, x1s, quant)
    for y in range(y_start, y_end):
        xa = x0s[y]
        xb = x1s[y]
        n = xb - xa
        if n > 0:
            o = offs[y]
            r_row = scratch[0, o : o + n]
            g_row = scratch[1, o : o + n]
            b_row = scratch[2, o : o + n]
            m_row = scratch[3, o : o + n]
            if blend:
                u = (float(y) + 0.5) * scale_r - 0.5
                u = min(max(u, 0.0), float(gh - 1))
                r0 = int(np.floor(u))
                r1 = min(r0 + 1, gh - 1)
                fr = np.float32(u - r0)
                frc = _F1 - fr
                for j in range(gw):
                    grow[j] = grid[r0, j] * frc + grid[r1, j] * fr
                j = 0
                while j < n:  # M_mix = row[c0]·(1 − fc) + row[c1]·fc, one segment of equal taps at a time
                    x = xa + j
                    m = min(ends[x] - xa, n)
                    g0 = grow[c0s[x]]
                    g1 = grow[c1s[x]]
                    seg = m_row[j:m]
                    f = fcs[x : x + m - j]
                    w = wcs[x : x + m - j]
                    for t in range(m - j):
                        seg[t] = g0 * w[t] + g1 * f[t]
                    j = m
            _color_span(r_row, g_row, b_row, m_row, n, coef, blend)
            # the span over the block's unmasked rows: I_T = 0, I_S = T, M = 1
            span = slice(3 * xa, 3 * xb)
            _inside_span(r_row, g_row, b_row, it2[y, span], is2[y, span], quant, qrow)
            mm = mask[y, xa:xb]
            for x in range(n):
                mm[x] = 1


@njit(cache=True, nogil=True, error_model="numpy")
def _outside_rows(y_start, y_end, img2, it2, is2, mask, x0s, x1s, quant):
    """Rows ``y_start:y_end`` written as if unmasked (``I_T = I``, ``I_S = 0``, ``M = 0``), in
    runs of consecutive rows with and without a masked span. uint8 runs without a span are
    final and written with streaming stores (:func:`_stream_bytes`); the others with plain
    stores, as their spans are overwritten next (from the cache)."""
    y = y_start
    streamed = False
    while y < y_end:
        masked = x1s[y] > x0s[y]
        e = y + 1
        while e < y_end and (x1s[e] > x0s[e]) == masked:
            e += 1
        src = img2[y:e].ravel()
        it = it2[y:e].ravel()
        is_ = is2[y:e].ravel()
        m = mask[y:e].ravel()
        if quant and not masked:  # uint8 outputs (the byte views only let the float32 variant compile)
            _stream_bytes(it.view(np.uint8), src, False)
            _stream_bytes(is_.view(np.uint8), src, True)
            _stream_bytes(m, m, True)
            streamed = True
        else:
            _outside(src, it, is_, quant)
            for x in range(m.shape[0]):
                m[x] = 0
        y = e
    if streamed:
        _store_fence()


@njit(cache=True, nogil=True, error_model="numpy")
def _stream_bytes(dst, src, zero):
    """``dst[:] = src[:len(dst)]`` (or 0) for uint8 1-D contiguous arrays: plain stores up to
    the first cache-line boundary of ``dst`` and after the last, streaming stores in between."""
    n = dst.shape[0]
    head = min((-dst.ctypes.data) % _LINE, n)
    lines = (n - head) // _LINE
    tail = head + lines * _LINE
    if zero:
        for k in range(head):
            dst[k] = 0
        _stream_lines(dst, head, src, head, lines, True)
        for k in range(tail, n):
            dst[k] = 0
    else:
        for k in range(head):
            dst[k] = src[k]
        _stream_lines(dst, head, src, head, lines, False)
        for k in range(tail, n):
            dst[k] = src[k]


@njit(cache=True, nogil=True, error_model="numpy")
def _outside(src, it, is_, quant):
    """Unmasked pixels (flat): ``I_T = I`` (float32: ``I/255``), ``I_S = 0``."""
    if quant:
        for k in range(src.shape[0]):
            it[k] = src[k]
        for k in range(src.shape[0]):
            is_[k] = 0
    else:
        for k in range(src.shape[0]):
            it[k] = np.float32(src[k]) / _F255
        for k in range(src.shape[0]):
            is_[k] = _F0


@njit(cache=True, nogil=True, error_model="numpy")
def _inside_span(r, g, b, it, is_, quant, qrow):
    """Masked span: ``I_T = 0``, ``I_S`` = T interleaved (uint8: rounding half up, quantised
    into the planar rows ``qrow`` first: three vectorised loops, then one byte interleave)."""
    n = r.shape[0]
    for k in range(3 * n):
        it[k] = 0
    if quant:
        q_r = qrow[0, :n]
        q_g = qrow[1, :n]
        q_b = qrow[2, :n]
        for j in range(n):
            q_r[j] = np.uint8(np.floor(r[j] * _F255 + _FHALF))
        for j in range(n):
            q_g[j] = np.uint8(np.floor(g[j] * _F255 + _FHALF))
        for j in range(n):
            q_b[j] = np.uint8(np.floor(b[j] * _F255 + _FHALF))
        for j in range(n):
            is_[3 * j] = q_r[j]
            is_[3 * j + 1] = q_g[j]
            is_[3 * j + 2] = q_b[j]
    else:
        for j in range(n):
            is_[3 * j] = r[j]
            is_[3 * j + 1] = g[j]
            is_[3 * j + 2] = b[j]


@njit(cache=True, nogil=True, error_model="numpy")
def _setup(height, width, mask_geom, nblocks, x0s, x1s, offs, bounds1, bounds2):
    """Spans, scratch offsets and the row blocks of both passes; returns the masked count."""
    count = _mask_spans(
        height, width, mask_geom[0], mask_geom[1], mask_geom[2], mask_geom[3], mask_geom[4], mask_geom[5], x0s, x1s
    )
    prefix1 = np.empty(height + 1, np.int64)
    prefix2 = np.empty(height + 1, np.int64)
    prefix1[0] = 0
    prefix2[0] = 0
    for y in range(height):
        n = x1s[y] - x0s[y]
        offs[y] = prefix1[y]
        prefix1[y + 1] = prefix1[y] + n
        prefix2[y + 1] = prefix2[y] + width + _MASKED_COST * n
    _split(prefix1, nblocks, bounds1)
    _split(prefix2, nblocks, bounds2)
    return count


@njit(cache=True, nogil=True, error_model="numpy")
def _kernel_serial(
    image, img2, it2, is2, mask, hinv, identity, constant, mask_geom, tp, blend, grid, scratch, quant
):
    """The whole tuple on the calling thread (same row code as :func:`_kernel_parallel`)."""
    height = image.shape[0]
    width = image.shape[1]
    x0s = np.empty(height, np.int64)
    x1s = np.empty(height, np.int64)
    offs = np.empty(height, np.int64)
    bounds1 = np.empty(2, np.int64)
    bounds2 = np.empty(2, np.int64)
    count = _setup(height, width, mask_geom, 1, x0s, x1s, offs, bounds1, bounds2)
    if count > scratch.shape[1]:
        return -count  # scratch too small: nothing written, the caller retries with more
    rowsums = np.empty((height, 3), np.float64)  # every row is written by pass 1
    if identity:
        _copy_rows(0, height, img2, offs, scratch, rowsums, x0s, x1s)
    else:
        _warp_rows(0, height, image, hinv, constant, x0s, x1s, offs, scratch, rowsums)
    coef = np.empty((tp.shape[0], 8), np.float32)
    _coefficients(rowsums, count, tp, coef)
    c0s = np.empty(width, np.int64)
    c1s = np.empty(width, np.int64)
    fcs = np.empty(width, np.float32)
    wcs = np.empty(width, np.float32)
    ends = np.empty(width, np.int64)
    _axis_table(width, grid.shape[1], c0s, c1s, fcs, wcs, ends)
    _compose_rows(0, height, img2, it2, is2, mask, x0s, x1s, offs, scratch, coef, blend, grid, c0s, c1s, fcs, wcs, ends, quant)
    return count


@njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def _kernel_parallel(
    image, img2, it2, is2, mask, hinv, identity, constant, mask_geom, tp, blend, grid, scratch, quant, nworkers, nblocks
):
    """The whole tuple; each pass cut into ``nblocks`` row blocks of equal work, which the
    ``nworkers`` threads claim one at a time (an atomic counter): a thread slowed down by another
    process on its core takes fewer blocks instead of holding the others up."""
    height = image.shape[0]
    width = image.shape[1]
    x0s = np.empty(height, np.int64)
    x1s = np.empty(height, np.int64)
    offs = np.empty(height, np.int64)
    bounds1 = np.empty(nblocks + 1, np.int64)
    bounds2 = np.empty(nblocks + 1, np.int64)
    count = _setup(height, width, mask_geom, nblocks, x0s, x1s, offs, bounds1, bounds2)
    if count > scratch.shape[1]:
        return -count  # scratch too small: nothing written, the caller retries with more
    rowsums = np.empty((height, 3), np.float64)  # every row is written by pass 1
    counters = np.empty(2, np.int64)  # (np.zeros here would be a parallel region of its own)
    counters[0] = 0
    counters[1] = 0
    for _w in prange(nworkers):
        k = _claim(counters, 0)
        while k < nblocks:
            if identity:
                _copy_rows(bounds1[k], bounds1[k + 1], img2, offs, scratch, rowsums, x0s, x1s)
            else:
                _warp_rows(bounds1[k], bounds1[k + 1], image, hinv, constant, x0s, x1s, offs, scratch, rowsums)
            k = _claim(counters, 0)
    coef = np.empty((tp.shape[0], 8), np.float32)
    _coefficients(rowsums, count, tp, coef)
    c0s = np.empty(width, np.int64)
    c1s = np.empty(width, np.int64)
    fcs = np.empty(width, np.float32)
    wcs = np.empty(width, np.float32)
    ends = np.empty(width, np.int64)
    _axis_table(width, grid.shape[1], c0s, c1s, fcs, wcs, ends)
    for _w in prange(nworkers):
        k = _claim(counters, 1)
        while k < nblocks:
            _compose_rows(
                bounds2[k], bounds2[k + 1], img2, it2, is2, mask, x0s, x1s, offs, scratch,
                coef, blend, grid, c0s, c1s, fcs, wcs, ends, quant,
            )  # fmt: skip
            k = _claim(counters, 1)
    return count


@njit(cache=True, nogil=True, error_model="numpy")
def _kernel_batch(
    images, its, iss, masks, hinvs, identities, constant, mask_geoms, tps, ntps, blends, grids, scratch, quant, counters, order
):
    """One worker of a batch: claims tuple indices one at a time from the shared ``counters[0]``
    (an atomic counter) and renders each with :func:`_kernel_serial` into its own scratch rows
    (``scratch``), so every tuple is computed by exactly the serial kernel's instructions and the
    results cannot depend on the workers. Several workers, each on its own thread (the function
    releases the GIL), share one counter and one batch; each one's scratch holds a whole image,
    so no tuple can need more. The tuples are claimed in the sequence ``order`` (the largest
    masks first, so that the last claims, which leave a worker idle at the end, are the
    shortest)."""
    n = images.shape[0]
    height = images.shape[1]
    width = images.shape[2]
    i = _claim(counters, 0)
    while i < n:
        k = order[i]
        image = images[k]
        _kernel_serial(
            image, image.reshape(height, 3 * width), its[k].reshape(height, 3 * width), iss[k].reshape(height, 3 * width),
            masks[k], hinvs[k], identities[k], constant, mask_geoms[k], tps[k, : ntps[k]], blends[k], grids[k], scratch, quant,
        )  # fmt: skip
        i = _claim(counters, 0)
