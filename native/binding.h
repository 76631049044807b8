// How every binding is registered: through errors.h's Guard, so a C++ or
// libtorch exception anywhere in a binding (sync, or the synchronous part of
// an async one) becomes a JS error naming the binding. Nothing can escape into
// node-addon-api's callback wrapper, where a C++ exception other than
// Napi::Error aborts the process. The JS name travels as the property's data
// pointer (a string literal), for the message.
#pragma once
#include <napi.h>

#include <string>

#include "errors.h"

namespace et {

using FunctionCallback = Napi::Value (*)(const Napi::CallbackInfo&);

// A free function binding behind Guard; info.Data() is its JS name.
template <FunctionCallback F>
Napi::Value Guarded(const Napi::CallbackInfo& info) {
  return Guard(info.Env(), static_cast<const char*>(info.Data()), [&] { return F(info); });
}

// exports[name] = F, behind Guard.
template <FunctionCallback F>
void ExportFunction(Napi::Env env, Napi::Object exports, const char* name) {
  exports.Set(name, Napi::Function::New<Guarded<F>>(env, name, const_cast<char*>(name)));
}

// Base of the ObjectWraps: their methods, accessors and static methods are
// registered behind Guard with the messages naming `T::kJsName` + "." + name.
template <typename T>
class GuardedWrap : public Napi::ObjectWrap<T> {
 public:
  explicit GuardedWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<T>(info) {}

 protected:
  using Method = Napi::Value (T::*)(const Napi::CallbackInfo&);
  using Setter = void (T::*)(const Napi::CallbackInfo&, const Napi::Value&);
  using Descriptor = Napi::ClassPropertyDescriptor<T>;

  template <Method M>
  static Descriptor GuardedMethod(const char* name) {
    return Napi::ObjectWrap<T>::InstanceMethod(name, &GuardedWrap::template CallMethod<M>, napi_default, const_cast<char*>(name));
  }
  template <Method Get>
  static Descriptor GuardedAccessor(const char* name) {
    return Napi::ObjectWrap<T>::InstanceAccessor(name, &GuardedWrap::template CallMethod<Get>, nullptr, napi_default, const_cast<char*>(name));
  }
  template <Method Get, Setter Set>
  static Descriptor GuardedAccessor(const char* name) {
    return Napi::ObjectWrap<T>::InstanceAccessor(name, &GuardedWrap::template CallMethod<Get>, &GuardedWrap::template CallSetter<Set>,
                                                 napi_default, const_cast<char*>(name));
  }
  template <FunctionCallback F>
  static Descriptor GuardedStatic(const char* name) {
    return Napi::ObjectWrap<T>::StaticMethod(name, &GuardedWrap::template CallStatic<F>, napi_default, const_cast<char*>(name));
  }

 private:
  static std::string Operation(const Napi::CallbackInfo& info) {
    return std::string(T::kJsName) + "." + static_cast<const char*>(info.Data());
  }
  template <Method M>
  Napi::Value CallMethod(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), Operation(info), [&] { return (static_cast<T*>(this)->*M)(info); });
  }
  template <Setter S>
  void CallSetter(const Napi::CallbackInfo& info, const Napi::Value& value) {
    Guard(info.Env(), Operation(info), [&] { (static_cast<T*>(this)->*S)(info, value); });
  }
  template <FunctionCallback F>
  static Napi::Value CallStatic(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), Operation(info), [&] { return F(info); });
  }
};

}  // namespace et
