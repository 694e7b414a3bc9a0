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

}  // namespace faceanime
