using GpuViT.Kernels;
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
/// generated OpenCL C, the emulator runs the C# bodies. One OpenCL context per test class.
/// </summary>
public sealed class KernelBackends : IDisposable
{
    public const string OpenCL = "opencl";
    public const string Emulator = "emulator";

    private readonly Lazy<OpenCLContext> _openCL = new(RuntimeRequirement.OpenCL);
    private readonly object _gate = new();

    public static TheoryData<string> Names => new() { OpenCL, Emulator };

    public void Launch(string backend, KernelDescriptor kernel, Int3 groupCount, Int3 groupSize, params object[] arguments)
    {
        switch (backend)
        {
            case OpenCL:
                lock (_gate)
                {
                    _openCL.Value.Launch(kernel, groupCount, groupSize, arguments);
                }

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
