using GpuViT.Kernels;
using GpuViT.Kernels.Runtime;
using GpuViT.Kernels.Runtime.OpenCL;
using GpuViT.Tests.Runtime;
using Xunit;

namespace GpuViT.Tests.Kernels;

/// <summary>Every kernel of the library and of the tests, for theories over kernels.</summary>
public static class AllKernels
{
    public static IReadOnlyList<KernelDescriptor> Descriptors { get; } =
        GpuViT.Kernels.Generated.KernelCatalog.All.Concat(GpuViT.Tests.Generated.KernelCatalog.All).ToArray();

    public static TheoryData<string> Names
    {
        get
        {
            var names = new TheoryData<string>();
            foreach (KernelDescriptor kernel in Descriptors)
            {
                names.Add(kernel.Name);
            }

            return names;
        }
    }

    public static KernelDescriptor Get(string name) => Descriptors.Single(k => k.Name == name);
}

/// <summary>
/// The backends that run generated kernels on this machine: OpenCL (PoCL here) runs the
/// generated OpenCL C, cuda (where a CUDA device opens) the generated CUDA C, the emulator the
/// C# bodies. Kernels take host arrays here: on a device each array goes to a device buffer for
/// the launch and read-write ones come back. One device of each per test class.
/// </summary>
public sealed class KernelBackends : IDisposable
{
    public const string OpenCL = TestBackends.OpenCL;
    public const string Cuda = TestBackends.Cuda;
    public const string Emulator = "emulator";

    private readonly Lazy<OpenCLDevice> _openCL = new(() => RuntimeRequirement.OpenCL());
    private readonly Lazy<Device> _cuda = new(() => RuntimeRequirement.Cuda());

    public static TheoryData<string> Names => new() { OpenCL, Cuda, Emulator };

    public void Launch(string backend, KernelDescriptor kernel, Int3 groupCount, Int3 groupSize, params object[] arguments)
    {
        switch (backend)
        {
            case OpenCL:
                LaunchOnDevice(_openCL.Value, kernel, groupCount, groupSize, arguments);
                break;
            case Cuda:
                LaunchOnDevice(_cuda.Value, kernel, groupCount, groupSize, arguments);
                break;
            case Emulator:
                KernelEmulator.Launch(kernel, groupCount, groupSize, arguments);
                break;
            default:
                throw new ArgumentException($"unknown backend '{backend}'", nameof(backend));
        }
    }

    public void Dispose()
    {
        if (_openCL.IsValueCreated)
        {
            _openCL.Value.Dispose();
        }

        if (_cuda.IsValueCreated)
        {
            _cuda.Value.Dispose();
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

/// <summary>Comparisons by error relative to the reference, naming the first element that is off.</summary>
public static class Compare
{
    public static void Close(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, float relative = 1e-5f, float absolute = 1e-6f, string what = "")
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            float e = expected[i];
            float a = actual[i];
            bool same = (float.IsNaN(e) && float.IsNaN(a)) || e == a || MathF.Abs(e - a) <= absolute + relative * MathF.Abs(e);
            Assert.True(same, $"{what}[{i}]: expected {e:R}, got {a:R} (error {MathF.Abs(e - a):G3})");
        }
    }

    public static float[] Random(int count, int seed, float low = -1f, float high = 1f)
    {
        var random = new Random(seed);
        var values = new float[count];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = low + (float)random.NextDouble() * (high - low);
        }

        return values;
    }

    public static int Groups(int count, int size) => (count + size - 1) / size;
}
