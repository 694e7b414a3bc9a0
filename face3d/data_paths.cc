#include "face3d/data_paths.h"

#include <cstdlib>

namespace faceanime {

std::filesystem::path FaceanimeDataDir() {
  if (const char* env = std::getenv("FACEANIME_DATA"); env != nullptr && *env != '\0') {
    return env;
  }
#ifdef FACEANIME_DEFAULT_DATA_DIR
  if (const char* built_in = FACEANIME_DEFAULT_DATA_DIR; *built_in != '\0') return built_in;
#endif
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg != '\0') {
    return std::filesystem::path(xdg) / "faceanime";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    return std::filesystem::path(home) / ".cache" / "faceanime";
  }
  return std::filesystem::path(".faceanime-data");
}

std::filesystem::path CommittedModelFile(const char* env_var, const std::filesystem::path& data_relative,
                                         const std::filesystem::path& asset_relative) {
  if (const char* env = std::getenv(env_var); env != nullptr && *env != '\0') return env;
  const std::filesystem::path data = FaceanimeDataDir() / data_relative;
  if (std::filesystem::exists(data)) return data;
#ifdef FACEANIME_SOURCE_ASSETS_DIR
  return std::filesystem::path(FACEANIME_SOURCE_ASSETS_DIR) / asset_relative;
#else
  (void)asset_relative;
  return data;
#endif
}

}  // namespace faceanime
