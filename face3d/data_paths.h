// Where faceanime finds its downloaded and converted data (face models).
#ifndef FACEANIME_FACE3D_DATA_PATHS_H_
#define FACEANIME_FACE3D_DATA_PATHS_H_

#include <filesystem>

namespace faceanime {

// The data directory, first of: $FACEANIME_DATA; the directory compiled in
// with -DFACEANIME_DATA_DIR=...; $XDG_CACHE_HOME/faceanime; ~/.cache/faceanime.
// tools/setup fills it (npm face models, the converted ICT model).
std::filesystem::path FaceanimeDataDir();

// A committed model file (weights under the source tree's assets/), first
// of: the file $`env_var` names; FaceanimeDataDir() / `data_relative` when
// it exists (a user's own file, or an install without the source tree);
// the source tree's assets/`asset_relative` (compiled in). Without a source
// tree compiled in: FaceanimeDataDir() / `data_relative`.
std::filesystem::path CommittedModelFile(const char* env_var, const std::filesystem::path& data_relative,
                                         const std::filesystem::path& asset_relative);

// The command that (re)creates the data directory, for error messages.
inline constexpr const char* kSetupCommand = "tools/setup";

}  // namespace faceanime

#endif  // FACEANIME_FACE3D_DATA_PATHS_H_
