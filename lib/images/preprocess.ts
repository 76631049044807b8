/**
 * Images to model input: decode (sharp), RGB, resize, centre crop, rescale
 * and normalise, as preprocessor_config.json says; a batch of any sizes in,
 * one float32 [B, 3, H, W] tensor out. Matches Hugging Face's
 * CLIPImageProcessor (Pillow bicubic) exactly and its torchvision-based fast
 * variant within one grey level.
 */
import { checkDevice, type Device } from "../device";
import { Tensor } from "../tensor";
import type { ImageInput, RgbImage } from "./decode";
import { preparePixels } from "./pixel-pool";
import { readImageProcessorConfig, type ImageProcessorConfig } from "./processor-config";

export { resizedSize } from "./resize-crop";

export interface PreprocessOptions {
  /** Where the tensor goes; default "cpu". */
  device?: Device;
}

/** Host pixel values, row-major [batch, 3, height, width]. */
export interface PixelValues {
  readonly data: Float32Array;
  readonly shape: readonly [number, number, number, number];
}

export class ImageProcessor {
  constructor(readonly config: ImageProcessorConfig) {}

  /** Reads `dir/preprocessor_config.json`. @throws CheckpointError for a missing or invalid file. */
  static async fromPretrained(dir: string): Promise<ImageProcessor> {
    if (typeof dir !== "string") throw new TypeError(`ImageProcessor.fromPretrained: dir must be a string, received ${typeof dir}`);
    return new ImageProcessor(await readImageProcessorConfig(dir, `ImageProcessor.fromPretrained(${JSON.stringify(dir)})`));
  }

  /**
   * Pixel values on the host. `firstIndex`: the position of `images[0]` in
   * the caller's list, so that messages name the caller's index when it
   * passes a slice.
   * @throws RangeError for an empty batch, or (without centre crop) images of different output sizes.
   * @throws TypeError naming the index of an item that is neither a path nor bytes.
   * @throws ImageError naming the index and path of a file that cannot be read or decoded.
   */
  async pixelValues(images: readonly ImageInput[], context = "ImageProcessor.pixelValues", firstIndex = 0): Promise<PixelValues> {
    if (!Array.isArray(images)) throw new TypeError(`${context}: images must be an array of paths or Buffers, received ${typeof images}`);
    if (images.length === 0) throw new RangeError(`${context}: images is empty; pass at least one image`);
    // Decoded, resized and cropped on worker threads (pixel-pool.ts).
    const prepared = await Promise.all(images.map((image, i) => preparePixels(image, firstIndex + i, context, this.config)));
    const { width, height } = prepared[0] as RgbImage;
    const odd = prepared.findIndex((p) => p.width !== width || p.height !== height);
    if (odd >= 0)
      throw new RangeError(`${context}: images[${firstIndex}] becomes ${width}x${height} but images[${firstIndex + odd}] ${prepared[odd]?.width}x${prepared[odd]?.height}; without do_center_crop every image must end at the same size`);
    const plane = width * height;
    const data = new Float32Array(prepared.length * 3 * plane);
    const { doRescale, rescaleFactor, doNormalize, imageMean, imageStd } = this.config;
    prepared.forEach((image, b) => {
      for (let c = 0; c < 3; c++) {
        const scale = (doRescale ? rescaleFactor : 1) / (doNormalize ? (imageStd[c] as number) : 1);
        const shift = doNormalize ? (imageMean[c] as number) / (imageStd[c] as number) : 0;
        const out = (b * 3 + c) * plane;
        for (let p = 0; p < plane; p++) data[out + p] = (image.data[p * 3 + c] as number) * scale - shift; // CHW from HWC
      }
    });
    return { data, shape: [prepared.length, 3, height, width] };
  }

  /** The batch as a float32 [B, 3, H, W] tensor on `device`. Throws as {@link pixelValues}. */
  async preprocess(images: readonly ImageInput[], options: PreprocessOptions = {}): Promise<Tensor> {
    const device = checkDevice(options.device ?? "cpu", "ImageProcessor.preprocess");
    const { data, shape } = await this.pixelValues(images, "ImageProcessor.preprocess");
    return Tensor.from(data, shape, { device });
  }
}
