#include "tensor.h"

#include <cstring>

#include "addon_data.h"
#include "errors.h"

namespace et {

namespace {

struct DTypeEntry {
  const char* name;
  c10::ScalarType type;
};
constexpr DTypeEntry kDTypes[] = {
    {"float32", c10::kFloat}, {"float16", c10::kHalf}, {"bfloat16", c10::kBFloat16},
    {"float64", c10::kDouble}, {"int64", c10::kLong}, {"int32", c10::kInt},
    {"uint8", c10::kByte},    {"bool", c10::kBool},
};

// The scalar type a TypedArray holds, for copying its elements.
c10::ScalarType ElementType(Napi::Env env, napi_typedarray_type type) {
  switch (type) {
    case napi_float32_array: return c10::kFloat;
    case napi_float64_array: return c10::kDouble;
    case napi_int32_array: return c10::kInt;
    case napi_bigint64_array: return c10::kLong;
    case napi_uint8_array: return c10::kByte;
    case napi_uint16_array: return c10::kShort;  // bit pattern of float16/bfloat16
    default:
      Throw(env, "Tensor.from: unsupported TypedArray; use Float32Array, Float64Array, Int32Array, "
                 "BigInt64Array, Uint8Array or Uint16Array", "ERR_INVALID_ARG_TYPE");
  }
}

std::vector<int64_t> ReadShape(Napi::Env env, const Napi::Value& value) {
  if (!value.IsArray()) Throw(env, "Tensor.from: shape must be an array of integers", "ERR_INVALID_ARG_TYPE");
  auto array = value.As<Napi::Array>();
  std::vector<int64_t> shape(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i) shape[i] = array.Get(i).As<Napi::Number>().Int64Value();
  return shape;
}

Napi::Value CopyOut(Napi::Env env, const at::Tensor& host) {
  // host: contiguous, on the CPU
  const size_t bytes = host.nbytes();
  auto buffer = Napi::ArrayBuffer::New(env, bytes);
  if (bytes > 0) std::memcpy(buffer.Data(), host.data_ptr(), bytes);
  const size_t n = static_cast<size_t>(host.numel());
  switch (host.scalar_type()) {
    case c10::kFloat: return Napi::Float32Array::New(env, n, buffer, 0);
    case c10::kDouble: return Napi::Float64Array::New(env, n, buffer, 0);
    case c10::kInt: return Napi::Int32Array::New(env, n, buffer, 0);
    case c10::kLong: return Napi::BigInt64Array::New(env, n, buffer, 0);
    case c10::kHalf:
    case c10::kBFloat16: return Napi::Uint16Array::New(env, n, buffer, 0);
    case c10::kByte:
    case c10::kBool: return Napi::Uint8Array::New(env, n, buffer, 0);
    default: Throw(env, "Tensor.data: unsupported dtype " + DTypeName(host.scalar_type()), "ERR_TORCH");
  }
}

}  // namespace

c10::ScalarType ParseDType(Napi::Env env, const std::string& name) {
  for (const auto& entry : kDTypes)
    if (name == entry.name) return entry.type;
  throw Napi::RangeError::New(env, "unknown dtype '" + name +
                                       "'; expected float32, float16, bfloat16, float64, int64, int32, uint8 or bool");
}

std::string DTypeName(c10::ScalarType type) {
  for (const auto& entry : kDTypes)
    if (type == entry.type) return entry.name;
  return c10::toString(type);
}

c10::Device ParseDevice(Napi::Env env, const std::string& name) {
  c10::Device device(c10::kCPU);
  try {
    device = c10::Device(name);
  } catch (const c10::Error&) {
    throw Napi::RangeError::New(env, "unknown device '" + name + "'; expected \"cpu\", \"cuda\" or \"cuda:N\"");
  }
  if (device.is_cuda()) {
    if (!torch::cuda::is_available())
      Throw(env, "device '" + name + "' requested but this libtorch has no usable CUDA (built " +
                     std::string(torch::cuda::is_available() ? "with" : "without or with no GPU visible") +
                     "); use \"cpu\" or install a CUDA build of libtorch",
            kErrDevice);
    const auto count = static_cast<int64_t>(torch::cuda::device_count());
    if (device.has_index() && device.index() >= count)
      Throw(env, "device '" + name + "' requested but only " + std::to_string(count) + " CUDA device(s) exist",
            kErrDevice);
  }
  return device;
}

std::string DeviceName(const c10::Device& device) {
  if (device.is_cuda()) return "cuda:" + std::to_string(device.has_index() ? device.index() : 0);
  return device.str();
}

void TensorWrap::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(
      env, "NativeTensor",
      {
          GuardedStatic<&TensorWrap::FromBuffer>("fromBuffer"),
          GuardedAccessor<&TensorWrap::Shape>("shape"),
          GuardedAccessor<&TensorWrap::DType>("dtype"),
          GuardedAccessor<&TensorWrap::Device>("device"),
          GuardedAccessor<&TensorWrap::RequiresGrad, &TensorWrap::SetRequiresGrad>("requiresGrad"),
          GuardedAccessor<&TensorWrap::Grad>("grad"),
          GuardedAccessor<&TensorWrap::IsDisposed>("isDisposed"),
          GuardedMethod<&TensorWrap::Data>("data"),
          GuardedMethod<&TensorWrap::ToFloat32Array>("toFloat32Array"),
          GuardedMethod<&TensorWrap::To>("to"),
          GuardedMethod<&TensorWrap::Dispose>("dispose"),
      });
  GetAddonData(env).tensor = Napi::Persistent(ctor);
  exports.Set("NativeTensor", ctor);
}

Napi::Object TensorWrap::New(Napi::Env env, at::Tensor tensor) {
  Napi::Object object = GetAddonData(env).tensor.New({});
  TensorWrap* wrap = Unwrap(object);
  wrap->tensor_ = std::move(tensor);
  wrap->accounted_.Set(env, GetAddonData(env).memory, {wrap->tensor_});
  return object;
}

bool TensorWrap::IsTensor(const Napi::Value& value) {
  return value.IsObject() && value.As<Napi::Object>().InstanceOf(GetAddonData(value.Env()).tensor.Value());
}

at::Tensor TensorWrap::FromValue(const Napi::Value& value, const std::string& what) {
  Napi::Env env = value.Env();
  if (!IsTensor(value)) throw Napi::TypeError::New(env, what + " must be a Tensor");
  TensorWrap* wrap = ObjectWrap<TensorWrap>::Unwrap(value.As<Napi::Object>());
  if (wrap->disposed_) Throw(env, what + " is a disposed Tensor", kErrDisposed);
  return wrap->tensor_;
}

at::Tensor TensorWrap::FromInput(const Napi::Value& value, const std::string& what, const c10::Device& device) {
  if (IsTensor(value)) return FromValue(value, what);
  Napi::Env env = value.Env();
  const Napi::Value data = value.IsObject() && !value.IsArray() ? value.As<Napi::Object>().Get("data") : Napi::Value();
  if (data.IsEmpty() || !data.IsTypedArray())
    throw Napi::TypeError::New(env, what + " must be a Tensor or a host array {data: TypedArray, shape: number[]}");
  auto array = data.As<Napi::TypedArray>();
  c10::ScalarType dtype;
  switch (array.TypedArrayType()) {
    case napi_float32_array: dtype = c10::kFloat; break;
    case napi_float64_array: dtype = c10::kDouble; break;
    case napi_int32_array: dtype = c10::kInt; break;
    case napi_bigint64_array: dtype = c10::kLong; break;
    case napi_uint8_array: dtype = c10::kByte; break;
    default:
      throw Napi::TypeError::New(env, what + ": data must be a Float32Array, Float64Array, Int32Array, BigInt64Array or Uint8Array");
  }
  if (!Napi::Value(array.ArrayBuffer()).IsArrayBuffer())  // a SharedArrayBuffer: another thread may write it while it is copied
    throw Napi::TypeError::New(env, what + ": data is over a SharedArrayBuffer; copy it into an ordinary ArrayBuffer first");
  const Napi::Value shape_value = value.As<Napi::Object>().Get("shape");
  if (!shape_value.IsArray()) throw Napi::TypeError::New(env, what + ": shape must be an array of non-negative integers");
  auto shape_array = shape_value.As<Napi::Array>();
  std::vector<int64_t> shape(shape_array.Length());
  bool zero = false, overflow = false;
  int64_t numel = 1;
  for (uint32_t i = 0; i < shape_array.Length(); ++i) {
    const Napi::Value d = shape_array.Get(i);
    const double v = d.IsNumber() ? d.As<Napi::Number>().DoubleValue() : -1;
    if (!(v >= 0 && v <= 9007199254740991.0) || v != static_cast<double>(static_cast<int64_t>(v)))
      throw Napi::TypeError::New(env, what + ": shape must be an array of non-negative integers");
    shape[i] = static_cast<int64_t>(v);
    if (shape[i] == 0) zero = true;
    else if (overflow || numel > INT64_MAX / shape[i]) overflow = true;
    else numel *= shape[i];
  }
  if (zero) numel = 0;  // a zero dimension: no elements, however large the others
  else if (overflow) numel = -1;
  if (numel != static_cast<int64_t>(array.ElementLength()))
    throw Napi::RangeError::New(env, what + ": shape [" + c10::Join(", ", shape) + "] needs " + (numel < 0 ? std::string("too many") : std::to_string(numel)) +
                                         " elements but data holds " + std::to_string(array.ElementLength()));
  return Guard(env, what, [&] {
    at::Tensor tensor = at::empty(shape, at::TensorOptions().dtype(dtype));
    if (numel > 0) std::memcpy(tensor.data_ptr(), static_cast<const uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset(), array.ByteLength());
    return device.is_cpu() ? tensor : tensor.to(device);
  });
}

TensorWrap::TensorWrap(const Napi::CallbackInfo& info) : GuardedWrap<TensorWrap>(info) {}

TensorWrap::~TensorWrap() = default;  // a finalizer: accounted_ releases what it reported

const at::Tensor& TensorWrap::Checked(Napi::Env env, const char* method) const {
  if (disposed_) Throw(env, std::string("Tensor.") + method + ": the tensor was disposed", kErrDisposed);
  return tensor_;
}

void TensorWrap::Release(Napi::Env env) {
  accounted_.Clear();
  tensor_ = at::Tensor();  // drops our reference; in-flight workers hold their own
  disposed_ = true;
}

Napi::Value TensorWrap::FromBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray()) throw Napi::TypeError::New(env, "Tensor.from: data must be a TypedArray");
  auto array = info[0].As<Napi::TypedArray>();
  const auto shape = ReadShape(env, info[1]);
  const auto dtype = ParseDType(env, info[2].As<Napi::String>());
  const auto device = ParseDevice(env, info[3].As<Napi::String>());
  const bool requires_grad = info[4].ToBoolean();

  c10::ScalarType source = ElementType(env, array.TypedArrayType());
  int64_t numel = 1;
  for (auto d : shape) numel *= d;
  int64_t count = static_cast<int64_t>(array.ElementLength());
  const bool raw_bytes = source == c10::kByte && dtype != c10::kByte && dtype != c10::kBool;
  if (raw_bytes || (source == c10::kShort && (dtype == c10::kHalf || dtype == c10::kBFloat16))) {
    count = static_cast<int64_t>(array.ByteLength()) / static_cast<int64_t>(c10::elementSize(dtype));
    if (static_cast<int64_t>(array.ByteLength()) % static_cast<int64_t>(c10::elementSize(dtype)) != 0) count = -1;
    source = dtype;  // reinterpret the bytes
  }
  if (count != numel) {
    std::string dims;
    for (auto d : shape) dims += (dims.empty() ? "" : ", ") + std::to_string(d);
    throw Napi::RangeError::New(env, "Tensor.from: shape [" + dims + "] needs " + std::to_string(numel) +
                                         " elements of " + DTypeName(dtype) + " but data holds " +
                                         (count < 0 ? std::to_string(array.ByteLength()) + " bytes (not a whole number)"
                                                    : std::to_string(count)));
  }
  return Guard(env, "Tensor.from", [&]() -> Napi::Value {
    auto* base = static_cast<uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
    at::Tensor view = torch::from_blob(base, shape, torch::TensorOptions().dtype(source));
    // One copy: clone when nothing converts, else the conversion is the copy.
    at::Tensor tensor = (source == dtype && device.is_cpu()) ? view.clone() : view.to(device, dtype, false, true);
    if (requires_grad) tensor.set_requires_grad(true);
    return New(env, std::move(tensor));
  });
}

Napi::Value TensorWrap::Shape(const Napi::CallbackInfo& info) {
  const auto& t = Checked(info.Env(), "shape");
  auto array = Napi::Array::New(info.Env(), t.dim());
  for (int64_t i = 0; i < t.dim(); ++i) array.Set(static_cast<uint32_t>(i), Napi::Number::New(info.Env(), t.size(i)));
  return array;
}

Napi::Value TensorWrap::DType(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), DTypeName(Checked(info.Env(), "dtype").scalar_type()));
}

Napi::Value TensorWrap::Device(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), DeviceName(Checked(info.Env(), "device").device()));
}

Napi::Value TensorWrap::RequiresGrad(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), Checked(info.Env(), "requiresGrad").requires_grad());
}

void TensorWrap::SetRequiresGrad(const Napi::CallbackInfo& info, const Napi::Value& value) {
  auto t = Checked(info.Env(), "requiresGrad");
  Guard(info.Env(), "Tensor.requiresGrad", [&] { t.set_requires_grad(value.ToBoolean()); });
}

Napi::Value TensorWrap::Grad(const Napi::CallbackInfo& info) {
  const auto& t = Checked(info.Env(), "grad");
  const auto& grad = t.grad();
  if (!grad.defined()) return info.Env().Null();
  return New(info.Env(), grad);
}

Napi::Value TensorWrap::IsDisposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), disposed_);
}

Napi::Value TensorWrap::Data(const Napi::CallbackInfo& info) {
  const auto& t = Checked(info.Env(), "data");
  return Guard(info.Env(), "Tensor.data", [&] {
    return CopyOut(info.Env(), t.detach().to(c10::kCPU).contiguous());
  });
}

Napi::Value TensorWrap::ToFloat32Array(const Napi::CallbackInfo& info) {
  const auto& t = Checked(info.Env(), "toFloat32Array");
  return Guard(info.Env(), "Tensor.toFloat32Array", [&] {
    return CopyOut(info.Env(), t.detach().to(c10::kCPU, c10::kFloat).contiguous());
  });
}

Napi::Value TensorWrap::To(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& t = Checked(env, "to");
  const c10::Device device = info[0].IsString() ? ParseDevice(env, info[0].As<Napi::String>()) : t.device();
  const c10::ScalarType dtype = info[1].IsString() ? ParseDType(env, info[1].As<Napi::String>()) : t.scalar_type();
  return Guard(env, "Tensor.to", [&] { return New(env, t.to(device, dtype)); });
}

Napi::Value TensorWrap::Dispose(const Napi::CallbackInfo& info) {
  if (!disposed_) Release(info.Env());
  return info.Env().Undefined();
}

}  // namespace et
