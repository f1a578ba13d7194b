// Package nvml is the NVIDIA implementation of gpu.Sampler, on NVML through
// github.com/NVIDIA/go-nvml. It is the only cgo in Typhon: the implementation is
// built on linux with cgo; elsewhere (or with CGO_ENABLED=0) Open returns an error
// wrapping gpu.ErrGPUUnavailable.
//
// Importing the package registers it as gpu.Default's sampler:
//
//	import _ "github.com/typhonbench/typhon/gpu/nvml"
//
// NVML is loaded at run time (dlopen of libnvidia-ml.so.1), so a binary built
// with cgo runs on a machine without the driver: Open then fails with
// gpu.ErrGPUUnavailable and says that the library was not found.
//
// What a reading holds, per GPU: memory used (nvmlDeviceGetMemoryInfo_v2, which
// matches nvidia-smi; the v1 call also counts memory the driver reserves and is
// used only on drivers without v2, which [Sampler.Notes] then says), temperature,
// power draw, GPU and memory utilisation, SM clock, throttle reasons, the
// total-energy counter where the card has one, and the memory each compute or
// graphics process holds. A field the card does not support is nil; it is not
// asked for again.
package nvml

// Name is the name the package registers with gpu.Register.
const Name = "nvml"
