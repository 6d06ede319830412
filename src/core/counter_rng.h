// Counter-based random numbers: value i of stream `seed` is a pure function of (seed, i), so
// the CPU and CUDA backends draw identical numbers and no generator state crosses threads.
#pragma once

#include <cstdint>
#include <string>

#if defined(__CUDACC__)
#define KILN_HOST_DEVICE __host__ __device__
#else
#define KILN_HOST_DEVICE
#endif

namespace kiln::rng {

// SplitMix64 finaliser (Steele, Lea, Flood 2014): a bijective 64-bit mix.
KILN_HOST_DEVICE inline std::uint64_t mix64(std::uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Uniform double in [0, 1) with 53 random bits.
KILN_HOST_DEVICE inline double uniform01(std::uint64_t seed, std::uint64_t index) {
  const std::uint64_t bits = mix64(seed ^ mix64(index));
  return static_cast<double>(bits >> 11) * (1.0 / 9007199254740992.0);
}

// FNV-1a hash of a text, to derive per-name seeds.
inline std::uint64_t hash_text(const std::string& name) {
  const char* text = name.c_str();
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (; *text != '\0'; ++text) h = (h ^ static_cast<unsigned char>(*text)) * 0x100000001b3ull;
  return h;
}

}  // namespace kiln::rng
