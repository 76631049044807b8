/**
 * Pillow's `Image.resize` for 8-bit RGB, reproduced to the integer: Hugging
 * Face's image processors resize with Pillow (or torchvision's copy of its
 * algorithm), and libvips' resize in sharp differs from it by up to 30 grey
 * levels on small images (it filters vertically first and shrinks by boxes
 * before the kernel). Separable convolution, horizontal pass first, with
 * Pillow's 22-bit fixed-point weights and rounding between the passes
 * (Pillow: src/libImaging/Resample.c).
 */

/** Pillow's resampling filters: support radius and kernel. */
interface Filter {
  readonly support: number;
  readonly kernel: (x: number) => number;
}

const sinc = (x: number): number => (x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x));

/** By Pillow's `Image.Resampling` codes (preprocessor_config.json `resample`); 0 (NEAREST) is not a convolution. */
export const FILTERS: Readonly<Record<number, Filter>> = {
  1: { support: 3, kernel: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) }, // LANCZOS
  2: { support: 1, kernel: (x) => Math.max(0, 1 - Math.abs(x)) }, // BILINEAR
  3: {
    support: 2, // BICUBIC, a = -0.5 (Keys; Catmull-Rom)
    kernel: (x) => {
      const a = -0.5;
      const t = Math.abs(x);
      if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
      if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
      return 0;
    },
  },
  4: { support: 0.5, kernel: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) }, // BOX
  5: {
    support: 1, // HAMMING
    kernel: (x) => {
      const t = Math.abs(x);
      if (t === 0) return 1;
      if (t >= 1) return 0;
      return (Math.sin(Math.PI * t) / (Math.PI * t)) * (0.54 + 0.46 * Math.cos(Math.PI * t));
    },
  },
};

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);

/** For each output pixel: the first input pixel and its fixed-point weights. */
interface Coefficients {
  readonly first: Int32Array;
  readonly count: Int32Array;
  readonly weights: Int32Array; // [outSize, maxCount]
  readonly stride: number;
}

function coefficients(inSize: number, outSize: number, filter: Filter): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1); // antialias: widen the kernel when shrinking
  const support = filter.support * filterScale;
  const stride = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * stride);
  const w = new Float64Array(stride);
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const n = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let total = 0;
    for (let x = 0; x < n; x++) {
      w[x] = filter.kernel((x + xmin - center + 0.5) / filterScale);
      total += w[x] as number;
    }
    for (let x = 0; x < n; x++) {
      const v = total === 0 ? (w[x] as number) : (w[x] as number) / total;
      weights[o * stride + x] = Math.trunc(v < 0 ? v * ONE - 0.5 : v * ONE + 0.5); // Pillow's normalize_coeffs_8bpc
    }
    first[o] = xmin;
    count[o] = n;
  }
  return { first, count, weights, stride };
}

const clip8 = (sum: number): number => Math.min(255, Math.max(0, Math.floor(sum / ONE)));

/** One pass along x (`alongX`) or y over interleaved RGB rows. */
function pass(src: Uint8Array, width: number, outW: number, outH: number, c: Coefficients, alongX: boolean): Uint8Array {
  const out = new Uint8Array(outW * outH * 3);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const o = alongX ? x : y;
      const first = c.first[o] as number;
      const n = c.count[o] as number;
      for (let ch = 0; ch < 3; ch++) {
        let sum = HALF;
        for (let k = 0; k < n; k++) {
          const index = alongX ? (y * width + first + k) * 3 + ch : ((first + k) * width + x) * 3 + ch;
          sum += (src[index] as number) * (c.weights[o * c.stride + k] as number);
        }
        out[(y * outW + x) * 3 + ch] = clip8(sum);
      }
    }
  }
  return out;
}

/**
 * Resizes interleaved 8-bit RGB `pixels` (`width` x `height`) to
 * `outWidth` x `outHeight` with Pillow's filter `resample` (see FILTERS).
 */
export function resizeRgb(pixels: Uint8Array, width: number, height: number, outWidth: number, outHeight: number, resample: number): Uint8Array {
  const filter = FILTERS[resample];
  if (filter === undefined) throw new RangeError(`resizeRgb: resample ${resample} is not one of Pillow's convolution filters (${Object.keys(FILTERS).join(", ")})`);
  let current = pixels;
  let w = width;
  // Pillow skips a pass whose size does not change; so do we (it is not the identity otherwise).
  if (outWidth !== width) {
    current = pass(current, w, outWidth, height, coefficients(width, outWidth, filter), true);
    w = outWidth;
  }
  if (outHeight !== height) current = pass(current, w, w, outHeight, coefficients(height, outHeight, filter), false);
  return current;
}
