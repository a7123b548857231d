namespace GpuViT.Kernels;

/// <summary>
/// Marks a <c>static void</c> method as a kernel. The build compiles its body to OpenCL C and
/// CUDA C (see docs/kernel-language.md); the emulator runs the body itself.
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class KernelAttribute : Attribute;

/// <summary>
/// Marks a static method that kernels may call. It is compiled beside every kernel that uses it.
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class DeviceFunctionAttribute : Attribute;
