// Where faceanime finds its downloaded and converted data (face models).
#ifndef FACEANIME_FACE3D_DATA_PATHS_H_
#define FACEANIME_FACE3D_DATA_PATHS_H_

#include <filesystem>

namespace faceanime {

// The data directory, first of: $FACEANIME_DATA; the directory compiled in
// with -DFACEANIME_DATA_DIR=...; $XDG_CACHE_HOME/faceanime; ~/.cache/faceanime.
// tools/setup fills it (npm face models, the converted ICT model).
std::filesystem::path FaceanimeDataDir();

// The command that (re)creates the data directory, for error messages.
inline constexpr const char* kSetupCommand = "tools/setup";

}  // namespace faceanime

#endif  // FACEANIME_FACE3D_DATA_PATHS_H_
