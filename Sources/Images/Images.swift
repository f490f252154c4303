// Image decoding (JPEG via libjpeg-turbo, PNG via libpng) to the RGB8 pixels PIL's
// `Image.open(path).convert("RGB")` gives, and CLIP's image preprocessing on them.
