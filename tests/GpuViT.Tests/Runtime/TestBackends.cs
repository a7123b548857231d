using System.Reflection;
using Xunit.Sdk;
using Xunit.v3;

namespace GpuViT.Tests.Runtime;

/// <summary>
/// The backends the op, kernel and model tests run on, found at run time as ggml's
/// test-backend-ops finds them: cpu (the reference) and the emulator always; opencl, required
/// (PoCL on CI); cuda wherever a CUDA device opens, and reported skipped, with the reason, where
/// none does. A test takes the backend's name as its first argument and opens it with <see cref="Open"/>.
/// </summary>
public static class TestBackends
{
    public const string Cuda = "cuda";
    public const string OpenCL = "opencl";
    public const string Emulator = "emulator";
    public const string Cpu = "cpu";

    /// <summary>Every backend <see cref="Open"/> opens.</summary>
    public static IReadOnlyList<string> All { get; } = [Cpu, Emulator, OpenCL, Cuda];

    /// <summary>The backends that run the generated kernels through a device's API, each checked against cpu or a reference.</summary>
    public static IReadOnlyList<string> KernelDevices { get; } = [OpenCL, Cuda];

    /// <summary>The backend's device: opencl fails the test without a runtime, cuda skips it without a GPU.</summary>
    public static Device Open(string backend) => backend switch
    {
        OpenCL => RuntimeRequirement.OpenCL(),
        Cuda => RuntimeRequirement.Cuda(),
        Cpu or Emulator => Devices.Open(backend).Device,
        _ => throw new ArgumentException($"unknown backend '{backend}'", nameof(backend)),
    };
}

/// <summary>An inline row on each of some backends, the backend's name first.</summary>
public abstract class BackendRowsAttribute(IReadOnlyList<string> backends, object?[] data) : DataAttribute
{
    public override ValueTask<IReadOnlyCollection<ITheoryDataRow>> GetData(MethodInfo testMethod, DisposalTracker disposalTracker) =>
        new([.. backends.Select(backend => new TheoryDataRow([backend, .. data]))]);

    public override bool SupportsDiscoveryEnumeration() => true;
}

/// <summary>
/// An inline row on every kernel device backend, its name first: <c>[KernelDeviceData(5, 7)]</c>
/// is <c>[InlineData("opencl", 5, 7)]</c> and <c>[InlineData("cuda", 5, 7)]</c>.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = true)]
public sealed class KernelDeviceDataAttribute(params object?[] data) : BackendRowsAttribute(TestBackends.KernelDevices, data);
