// Architecture name -> factory for this project's C++ models. Each model file
// registers itself (ET_REGISTER_MODEL), so adding a model touches no other file.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "module.h"

namespace et {

// config.json fields handed over from TypeScript (already type-checked there).
class ModelOptions {
 public:
  void set(const std::string& key, double value) { numbers_[key] = value; }
  void set(const std::string& key, const std::string& value) { strings_[key] = value; }
  void set(const std::string& key, bool value) { booleans_[key] = value; }
  int64_t integer(const std::string& key, int64_t fallback) const;
  double number(const std::string& key, double fallback) const;
  std::string string(const std::string& key, const std::string& fallback) const;
  bool boolean(const std::string& key, bool fallback) const;

 private:
  std::map<std::string, double> numbers_;
  std::map<std::string, std::string> strings_;
  std::map<std::string, bool> booleans_;
};

using ModelFactory = std::function<std::shared_ptr<NativeModel>(const ModelOptions&)>;

bool RegisterModel(const std::string& architecture, ModelFactory factory);
// Throws c10::Error listing the registered architectures when `architecture` is unknown.
std::shared_ptr<NativeModel> CreateModel(const std::string& architecture, const ModelOptions& options);
std::vector<std::string> RegisteredModels();

}  // namespace et

#define ET_REGISTER_MODEL(name, factory) \
  static const bool et_registered_##factory = ::et::RegisterModel(name, factory)
