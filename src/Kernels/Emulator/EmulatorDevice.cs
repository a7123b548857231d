using GpuViT.Kernels.Runtime;

namespace GpuViT.Kernels.Emulator;

/// <summary>
/// The <c>emulator</c> device: runs the C# kernel bodies with exact group semantics, on buffers in
/// this process's memory that it hands the kernels as views.
/// </summary>
/// <param name="info">The emulator as <see cref="Describe()"/> describes it.</param>
internal sealed class EmulatorDevice(DeviceInfo info) : HostMemoryDevice(info)
{
    public static DeviceInfo Describe() => Describe("emulator", DeviceKind.Emulator, "C# kernel bodies, exact group semantics");

    protected override void LaunchCore(KernelDescriptor kernel, Int3 groupCount, Int3 groupSize, DeviceStream stream, KernelArgument[] arguments)
    {
        var values = new object[arguments.Length];
        for (int i = 0; i < arguments.Length; i++)
        {
            KernelArgument argument = arguments[i];
            values[i] = argument.Buffer is null
                ? (argument.Parameter.ElementType == ElementType.Bool ? (int)argument.Scalar! != 0 : argument.Scalar!)
                : ((IHostMemory)argument.Buffer.Memory).View(argument);
        }

        KernelEmulator.Launch(kernel, groupCount, groupSize, values);
    }
}
