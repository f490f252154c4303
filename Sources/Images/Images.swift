// Images: what CLIP's image tower is fed, from a file path.
//
//   ImageDecoder.decode(contentsOf:)   JPEG (libjpeg-turbo) or PNG (libpng), told by signature,
//                                      to RGBImage (RGB8, [H, W, 3]) equal to PIL's
//                                      `Image.open(path).convert("RGB")`; failures are ImageError
//                                      (file + reason), refused before any large allocation.
//   CLIPPreprocessing.pixels(_:)       [3, S, S] Float: PIL's bicubic resize of the shorter side,
//                                      centre crop, CLIP's mean/std (transformers'
//                                      CLIPImageProcessorPil, bit for bit).
//   CLIPPreprocessing.augmentedPixels  RandomResizedCrop + horizontal flip training views.
//
// Files: ImageDecoding.swift (entry, signatures), JPEGStructure.swift (the marker walk that keeps
// libjpeg away from error_exit), JPEGDecoding.swift, PNGDecoding.swift, Resampling.swift (PIL's
// Image.resize in fixed point), CLIPPreprocessing.swift.
