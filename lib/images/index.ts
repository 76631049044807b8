export { ImageProcessor, resizedSize, type PixelValues, type PreprocessOptions } from "./preprocess";
export { type ImageInput, type RgbImage } from "./decode";
export { ImageError } from "./errors";
export { type ImageProcessorConfig, type ResizeTarget, parseImageProcessorConfig } from "./processor-config";
