using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Kernels.Cpu;

/// <summary>
/// The <c>cpu</c> device: the managed ops (CpuTransformerOps, CpuRnnOps) on all cores with SIMD, on
/// buffers in this process's memory. It launches no generated kernels; the emulator runs those.
/// </summary>
/// <param name="info">The CPU as <see cref="Describe()"/> found it.</param>
internal sealed class CpuDevice(DeviceInfo info) : HostMemoryDevice(info)
{
    /// <summary>The CPU by its model name, threads and the widest vectors the JIT accelerates.</summary>
    public static DeviceInfo Describe() => Describe("cpu", DeviceKind.Cpu, CpuName());

    protected override void LaunchCore(KernelDescriptor kernel, Int3 groupCount, Int3 groupSize, DeviceStream stream, KernelArgument[] arguments) =>
        throw new KernelLaunchException(kernel.Name, groupCount, groupSize, Info.Id,
            "the cpu device runs managed ops, not generated kernels; use --device emulator to run a kernel's C# body on the CPU");

    private static string CpuName()
    {
        string model = "CPU";
        try
        {
            string? line = File.Exists("/proc/cpuinfo")
                ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))
                : null;
            model = line?[(line.IndexOf(':') + 1)..].Trim() ?? RuntimeInformation.ProcessArchitecture.ToString();
        }
        catch (IOException)
        {
        }

        string simd = Vector512.IsHardwareAccelerated ? ", AVX-512"
            : System.Runtime.Intrinsics.X86.Fma.IsSupported && Vector256.IsHardwareAccelerated ? ", AVX2+FMA"
            : string.Empty;
        return $"{model} ({Environment.ProcessorCount} threads{simd})";
    }
}
