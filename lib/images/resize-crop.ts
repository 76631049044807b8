/**
 * The pixel work of a preprocessor config, pure and synchronous: resize
 * (Pillow's algorithm, resample.ts) and centre crop of one 8-bit RGB image.
 * Runs in the pixel workers (pixel-worker.ts), or in the calling thread where
 * no worker can be started.
 */
import type { RgbImage } from "./decode";
import type { ImageProcessorConfig, ResizeTarget } from "./processor-config";
import { resizeRgb } from "./resample";

/** Output size of a resize: transformers' get_resize_output_image_size (default_to_square=False). */
export function resizedSize(width: number, height: number, target: ResizeTarget): { width: number; height: number } {
  if (!("shortestEdge" in target)) return { width: target.width, height: target.height };
  const [short, long] = width <= height ? [width, height] : [height, width];
  const newLong = Math.trunc((target.shortestEdge * long) / short); // Python's int(): truncation
  return width <= height ? { width: target.shortestEdge, height: newLong } : { width: newLong, height: target.shortestEdge };
}

/** Resize then centre crop, as `config` says. */
export function resizeAndCrop(image: RgbImage, config: ImageProcessorConfig): RgbImage {
  let current = image;
  if (config.doResize) {
    const size = resizedSize(image.width, image.height, config.size);
    current = { ...size, data: resizeRgb(image.data, image.width, image.height, size.width, size.height, config.resample) };
  }
  return config.doCenterCrop ? centerCrop(current, config.cropSize.width, config.cropSize.height) : current;
}

/**
 * transformers' center_crop: the window starts at floor((size - crop) / 2);
 * where the crop is larger than the image, the outside is zero (black).
 */
function centerCrop(image: RgbImage, width: number, height: number): RgbImage {
  if (image.width === width && image.height === height) return image;
  const top = Math.floor((image.height - height) / 2);
  const left = Math.floor((image.width - width) / 2);
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const sy = y + top;
    if (sy < 0 || sy >= image.height) continue;
    for (let x = 0; x < width; x++) {
      const sx = x + left;
      if (sx < 0 || sx >= image.width) continue;
      const from = (sy * image.width + sx) * 3;
      data.set(image.data.subarray(from, from + 3), (y * width + x) * 3);
    }
  }
  return { data, width, height };
}
