// The one translation unit that compiles stb_image (third-party code: its warnings are not
// ours). stb_image_write has its own, stb_write_impl.cpp (compiled as C++20: see
// data/CMakeLists.txt).
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#endif
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_FAILURE_USERMSG
// stb_image asserts internal consistency that a corrupt JPEG Huffman stream can break
// (stbi__jpeg_huff_decode, found by fuzz_image); Release builds compile the asserts out and
// decode garbage safely (ASan-checked), so every build does the same rather than abort.
#define STBI_ASSERT(x) ((void)0)
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
