#include "models/registry.h"

#include <c10/util/StringUtil.h>

namespace et {

namespace {
std::map<std::string, ModelFactory>& Registry() {
  static std::map<std::string, ModelFactory> registry;  // filled by static initialisers
  return registry;
}
}  // namespace

int64_t ModelOptions::integer(const std::string& key, int64_t fallback) const {
  auto it = numbers_.find(key);
  if (it == numbers_.end()) return fallback;
  TORCH_CHECK(it->second == static_cast<double>(static_cast<int64_t>(it->second)), "option ", key,
              " must be an integer, got ", it->second);
  return static_cast<int64_t>(it->second);
}

double ModelOptions::number(const std::string& key, double fallback) const {
  auto it = numbers_.find(key);
  return it == numbers_.end() ? fallback : it->second;
}

std::string ModelOptions::string(const std::string& key, const std::string& fallback) const {
  auto it = strings_.find(key);
  return it == strings_.end() ? fallback : it->second;
}

bool ModelOptions::boolean(const std::string& key, bool fallback) const {
  auto it = booleans_.find(key);
  return it == booleans_.end() ? fallback : it->second;
}

bool RegisterModel(const std::string& architecture, ModelFactory factory) {
  Registry()[architecture] = std::move(factory);
  return true;
}

std::shared_ptr<NativeModel> CreateModel(const std::string& architecture, const ModelOptions& options) {
  auto it = Registry().find(architecture);
  TORCH_CHECK(it != Registry().end(), "unknown architecture '", architecture, "'; this addon has: ",
              c10::Join(", ", RegisteredModels()));
  return it->second(options);
}

std::vector<std::string> RegisteredModels() {
  std::vector<std::string> names;
  for (const auto& entry : Registry()) names.push_back(entry.first);
  return names;
}

}  // namespace et
