using GpuViT.Kernels.Ops;
using GpuViT.Tests.Runtime;

namespace GpuViT.Tests;

/// <summary>
/// The devices a test class runs on (an xunit class fixture), each opened on first use and once
/// per class, as <see cref="TestBackends.Open"/> opens them: cpu (the reference), the emulator,
/// opencl (PoCL here) and cuda where one opens. Gives a backend's transformer ops, and launches a
/// raw kernel on host arrays.
/// </summary>
public sealed class TestDevices : IDisposable
{
    private readonly Dictionary<string, Lazy<Device>> _devices =
        TestBackends.All.ToDictionary(backend => backend, backend => new Lazy<Device>(() => TestBackends.Open(backend)));

    private readonly List<IDisposable> _ops = [];

    /// <summary>The backends that run the generated kernels: opencl, cuda, and the emulator (the kernels' C# bodies).</summary>
    public static IReadOnlyList<string> KernelBackends { get; } = [.. TestBackends.KernelDevices, TestBackends.Emulator];

    /// <summary>The cpu device, the reference.</summary>
    public Device Cpu => Device(TestBackends.Cpu);

    /// <summary>The backend's device, opened on first use; cuda skips the test without a GPU, and a name not in <see cref="TestBackends.All"/> throws (see <see cref="TestBackends.Open"/>).</summary>
    public Device Device(string backend) =>
        _devices.TryGetValue(backend, out Lazy<Device>? device) ? device.Value : TestBackends.Open(backend); // Open: "unknown backend"

    /// <summary>New transformer ops on the backend's device, disposed with the fixture: the cpu ops on cpu, the kernel ops with <paramref name="gemm"/> elsewhere.</summary>
    public TransformerOps Ops(string backend, GemmVersion gemm = GemmVersion.RegisterBlocked)
    {
        Device device = Device(backend);
        TransformerOps ops = backend == TestBackends.Cpu ? TransformerOps.For(device) : new KernelTransformerOps(device, gemm, gemm.Precision());
        lock (_ops)
        {
            _ops.Add(ops);
        }

        return ops;
    }

    /// <summary>
    /// Launches on host arrays: on opencl and cuda each array goes to a device buffer for the launch
    /// and the read-write ones come back; the emulator runs the kernel's C# body on the arrays themselves.
    /// </summary>
    public void Launch(string backend, KernelDescriptor kernel, Int3 groupCount, Int3 groupSize, params object[] arguments)
    {
        if (backend == TestBackends.Emulator)
        {
            KernelEmulator.Launch(kernel, groupCount, groupSize, arguments);
        }
        else
        {
            LaunchOnDevice(Device(backend), kernel, groupCount, groupSize, arguments);
        }
    }

    /// <summary>How many groups of <paramref name="size"/> threads cover <paramref name="count"/> elements.</summary>
    public static int Groups(int count, int size) => (count + size - 1) / size;

    public void Dispose()
    {
        _ops.ForEach(ops => ops.Dispose());
        foreach (Lazy<Device> device in _devices.Values)
        {
            if (device.IsValueCreated)
            {
                device.Value.Dispose();
            }
        }
    }

    /// <summary>Uploads the arrays, launches, downloads the read-write ones into their arrays, frees the buffers.</summary>
    private static void LaunchOnDevice(Device device, KernelDescriptor kernel, Int3 groupCount, Int3 groupSize, object[] arguments)
    {
        var bound = new object[arguments.Length];
        var buffers = new List<DeviceBuffer>();
        try
        {
            // By exact type: the runtime lets an int[] pass as a uint[] and back, so `is int[]` would not tell them apart.
            for (int i = 0; i < arguments.Length; i++)
            {
                object argument = arguments[i];
                Type? type = argument?.GetType();
                bound[i] = type == typeof(float[]) ? Keep(device.Upload<float>((float[])argument!))
                    : type == typeof(int[]) ? Keep(device.Upload<int>((int[])argument!))
                    : type == typeof(uint[]) ? Keep(device.Upload<uint>((uint[])argument!))
                    : type == typeof(Half[]) ? Keep(device.Upload<Half>((Half[])argument!))
                    : type == typeof(BFloat16[]) ? Keep(device.Upload<BFloat16>((BFloat16[])argument!))
                    : argument!;
            }

            device.Launch(kernel, groupCount, groupSize, bound);

            for (int i = 0; i < arguments.Length; i++)
            {
                if (i < kernel.Parameters.Count && kernel.Parameters[i].Access == BufferAccess.ReadWrite)
                {
                    switch (bound[i])
                    {
                        case DeviceBuffer<float> buffer:
                            buffer.Download((float[])arguments[i]);
                            break;
                        case DeviceBuffer<int> buffer:
                            buffer.Download((int[])arguments[i]);
                            break;
                        case DeviceBuffer<uint> buffer:
                            buffer.Download((uint[])arguments[i]);
                            break;
                        case DeviceBuffer<Half> buffer:
                            buffer.Download((Half[])arguments[i]);
                            break;
                        case DeviceBuffer<BFloat16> buffer:
                            buffer.Download((BFloat16[])arguments[i]);
                            break;
                    }
                }
            }
        }
        finally
        {
            foreach (DeviceBuffer buffer in buffers)
            {
                buffer.Dispose();
            }
        }

        DeviceBuffer<T> Keep<T>(DeviceBuffer<T> buffer) where T : unmanaged
        {
            buffers.Add(buffer);
            return buffer;
        }
    }
}

/// <summary>
/// An inline row on every backend that runs generated kernels, its name first:
/// <c>[KernelBackendData(5)]</c> is <c>[KernelDeviceData(5)]</c> and <c>[InlineData("emulator", 5)]</c>.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = true)]
public sealed class KernelBackendDataAttribute(params object?[] data) : BackendRowsAttribute(TestDevices.KernelBackends, data);
