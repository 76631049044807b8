import * as fs from "node:fs";
import * as path from "node:path";

import sharp from "sharp";

import { ImageError, ImageProcessor, parseImageProcessorConfig, resizedSize } from "../../lib/images";
import { FIXTURES, maxAbsDiff } from "../helpers/fixtures";

const DIR = path.join(FIXTURES, "clip-tiny");
const IMAGE0 = path.join(DIR, "image0.png"); // 64x48 RGB
const MEAN = [0.48145466, 0.4578275, 0.40821073];
const STD = [0.26862954, 0.26130258, 0.27577711];

async function clipProcessor(): Promise<ImageProcessor> {
  return ImageProcessor.fromPretrained(DIR);
}

/** image0's raw RGB bytes, for building the same picture in other formats. */
async function image0Raw(): Promise<{ data: Buffer; width: number; height: number }> {
  const { data, info } = await sharp(IMAGE0).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

describe("resize arithmetic", () => {
  test("the shortest edge becomes size and the long edge int(size * long / short), as transformers computes it", () => {
    expect(resizedSize(64, 48, { shortestEdge: 32 })).toEqual({ width: 42, height: 32 }); // 42.67 -> 42
    expect(resizedSize(40, 90, { shortestEdge: 32 })).toEqual({ width: 32, height: 72 });
    expect(resizedSize(500, 375, { shortestEdge: 224 })).toEqual({ width: 298, height: 224 }); // 298.67 -> 298
    expect(resizedSize(10, 20, { height: 7, width: 9 })).toEqual({ width: 9, height: 7 });
  });
});

describe("decoding", () => {
  test("a file path and the same file's bytes as a Buffer give identical pixel values", async () => {
    const processor = await clipProcessor();
    const fromPath = await processor.pixelValues([IMAGE0]);
    const fromBuffer = await processor.pixelValues([fs.readFileSync(IMAGE0)]);
    expect(Array.from(fromBuffer.data)).toEqual(Array.from(fromPath.data));
  });

  test("lossless WebP of the same pixels gives identical pixel values; JPEG (quality 100, 4:4:4) within 5 grey levels", async () => {
    const processor = await clipProcessor();
    const { data, width, height } = await image0Raw();
    const raw = { raw: { width, height, channels: 3 as const } };
    const webp = await sharp(data, raw).webp({ lossless: true }).toBuffer();
    const jpeg = await sharp(data, raw).jpeg({ quality: 100, chromaSubsampling: "4:4:4" }).toBuffer();
    const png = await processor.pixelValues([IMAGE0]);
    const got = await processor.pixelValues([webp, jpeg]);
    const plane = 3 * 32 * 32;
    expect(maxAbsDiff(got.data.subarray(0, plane), png.data)).toBe(0);
    expect(maxAbsDiff(got.data.subarray(plane), png.data)).toBeLessThan(5 / 255 / STD[1]!);
  });

  test("alpha is dropped, not composited: an RGBA PNG with varying alpha gives the RGB image's values", async () => {
    const processor = await clipProcessor();
    const { data, width, height } = await image0Raw();
    const rgba = Buffer.alloc(width * height * 4);
    for (let p = 0; p < width * height; p++) {
      data.copy(rgba, p * 4, p * 3, p * 3 + 3);
      rgba[p * 4 + 3] = p % 256; // every alpha from transparent to opaque
    }
    const png = await sharp(rgba, { raw: { width, height, channels: 4 } }).png().toBuffer();
    const got = await processor.pixelValues([png]);
    const want = await processor.pixelValues([IMAGE0]);
    expect(maxAbsDiff(got.data, want.data)).toBe(0);
  });

  test("a greyscale PNG becomes three equal channels (the RGB image with R = G = B)", async () => {
    const processor = await clipProcessor();
    const width = 40, height = 36;
    const grey = Buffer.alloc(width * height);
    for (let i = 0; i < grey.length; i++) grey[i] = (i * 7) % 256;
    const rgb = Buffer.alloc(width * height * 3);
    for (let i = 0; i < grey.length; i++) rgb.fill(grey[i]!, i * 3, i * 3 + 3);
    const greyPng = await sharp(grey, { raw: { width, height, channels: 1 } }).png().toBuffer();
    const rgbPng = await sharp(rgb, { raw: { width, height, channels: 3 } }).png().toBuffer();
    const got = await processor.pixelValues([greyPng, rgbPng]);
    const plane = 3 * 32 * 32;
    expect(maxAbsDiff(got.data.subarray(0, plane), got.data.subarray(plane))).toBe(0);
  });
});

describe("batches and configuration", () => {
  test("images of mixed sizes (64x48, 40x90, 32x32) make one [3, 3, 32, 32] batch; a 32x32 image passes unresized", async () => {
    const processor = await clipProcessor();
    using t = await processor.preprocess(["image0.png", "image1.png", "image2.png"].map((f) => path.join(DIR, f)));
    expect([t.shape, t.dtype, t.device]).toEqual([[3, 3, 32, 32], "float32", "cpu"]);
    // image2 is 32x32: no resize, no crop, so its first pixel is (byte / 255 - mean) / std exactly
    const { data } = await sharp(path.join(DIR, "image2.png")).raw().toBuffer({ resolveWithObject: true });
    const values = t.toFloat32Array();
    for (let c = 0; c < 3; c++) expect(values[2 * 3072 + c * 1024]).toBeCloseTo((data[c]! / 255 - MEAN[c]!) / STD[c]!, 5);
  });

  test("a crop larger than the image pads with black, as transformers' center_crop does", async () => {
    const processor = new ImageProcessor(parseImageProcessorConfig({ do_resize: false, crop_size: { height: 50, width: 70 } }, "test"));
    const { data, shape } = await processor.pixelValues([IMAGE0]); // 64x48 inside 70x50: 3 columns left, 1 row on top
    expect(shape).toEqual([1, 3, 50, 70]);
    expect(data[0]).toBeCloseTo(-MEAN[0]! / STD[0]!, 5); // corner: padding
    const { data: raw } = await image0Raw();
    expect(data[1 * 70 + 3]).toBeCloseTo((raw[0]! / 255 - MEAN[0]!) / STD[0]!, 5); // image pixel (0, 0)
  });

  test("without centre crop, images that end at different sizes are a RangeError naming both", async () => {
    const processor = new ImageProcessor(parseImageProcessorConfig({ do_center_crop: false, size: { shortest_edge: 32 } }, "test"));
    await expect(processor.pixelValues([IMAGE0, path.join(DIR, "image1.png")])).rejects.toMatchObject({
      name: "RangeError",
      message: expect.stringMatching(/images\[0\] becomes 42x32 but images\[1\] 32x72/),
    });
  });

  test("an invalid preprocessor_config.json field is a CheckpointError naming the field and value", () => {
    expect(() => parseImageProcessorConfig({ resample: 0 }, "cfg.json")).toThrow(expect.objectContaining({ code: "ERR_CHECKPOINT", message: expect.stringMatching(/cfg.json: resample must be .* got 0/) }));
    expect(() => parseImageProcessorConfig({ image_std: [1, 0, 1] }, "cfg.json")).toThrow(expect.objectContaining({ message: expect.stringMatching(/image_std must be three positive numbers/) }));
    expect(() => parseImageProcessorConfig({ size: { longest_edge: 3 } }, "cfg.json")).toThrow(expect.objectContaining({ message: expect.stringMatching(/size must be/) }));
  });
});

describe("bad inputs name the item", () => {
  test("corrupt bytes are an ImageError naming the index and the Buffer", async () => {
    const processor = await clipProcessor();
    const error = await processor.pixelValues([IMAGE0, Buffer.from("not an image")]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImageError);
    expect(error).toMatchObject({ code: "ERR_IMAGE", index: 1, message: expect.stringMatching(/images\[1\] \(Buffer\(12 bytes\)\): cannot decode the image/) });
  });

  test("a truncated PNG is an ImageError, not a partly decoded image", async () => {
    const processor = await clipProcessor();
    const bytes = fs.readFileSync(IMAGE0);
    const error = await processor.pixelValues([bytes.subarray(0, bytes.length >> 1)]).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: "ImageError", index: 0 });
  });

  test("a missing file is an ImageError naming the index and the path", async () => {
    const processor = await clipProcessor();
    const missing = path.join(DIR, "no-such-image.png");
    const error = await processor.pixelValues([IMAGE0, IMAGE0, missing]).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: "ImageError", index: 2, source: missing, message: expect.stringContaining(`images[2] ("${missing}"): cannot read the file`) });
  });

  test("an item that is neither a path nor bytes is a TypeError naming its index; an empty batch a RangeError", async () => {
    const processor = await clipProcessor();
    await expect(processor.pixelValues([IMAGE0, 42 as never])).rejects.toMatchObject({ name: "TypeError", message: expect.stringMatching(/images\[1\] must be a file path .* received number/) });
    await expect(processor.pixelValues([])).rejects.toMatchObject({ name: "RangeError", message: expect.stringMatching(/images is empty/) });
  });
});
