using System.Collections.Concurrent;
using System.Reflection;
using GpuViT.Tests.Generator;

namespace GpuViT.Tests.Kernels;

/// <summary>
/// The managed math the emulator runs, against known values; and every KernelMath member in a
/// kernel of its own, on each backend, against the managed call (on a device this checks the
/// intrinsic table's spelling computes what the C# does).
/// </summary>
public sealed class KernelMathTests(TestDevices devices) : IClassFixture<TestDevices>
{
    private const int Threads = 256;

    /// <summary>Each member's probe kernel, compiled by the generator and loaded once.</summary>
    private static readonly ConcurrentDictionary<string, KernelDescriptor> s_probes = new();

    public static TheoryData<string, string> BackendsAndMembers
    {
        get
        {
            var data = new TheoryData<string, string>();
            foreach (string backend in TestDevices.KernelBackends)
            {
                foreach (string member in IntrinsicMembers.All.Keys.Where(m => m.StartsWith("KernelMath.", StringComparison.Ordinal)).Order())
                {
                    data.Add(backend, member);
                }
            }

            return data;
        }
    }

    [Theory]
    [InlineData(0.0, 0.0)]
    [InlineData(0.125, 0.1403162048013338)]
    [InlineData(0.25, 0.2763263901682369)]
    [InlineData(0.5, 0.5204998778130465)]
    [InlineData(1.0, 0.8427007929497149)]
    [InlineData(-0.75, -0.7111556336535151)]
    [InlineData(2.0, 0.9953222650189527)]
    [InlineData(3.5, 0.9999992569016276)]
    [InlineData(6.0, 1.0)]
    [InlineData(-10.0, -1.0)]
    public void Erf_matches_tabulated_values(double x, double expected) // x exact in float
    {
        Assert.Equal((float)expected, KernelMath.Erf((float)x));
    }

    [Fact]
    public void Min_and_max_ignore_NaN_like_fmin_and_fmax()
    {
        Assert.Equal(1f, KernelMath.Max(float.NaN, 1f));
        Assert.Equal(1f, KernelMath.Min(1f, float.NaN));
        Assert.True(float.IsNaN(KernelMath.Max(float.NaN, float.NaN)));
    }

    [Theory]
    [MemberData(nameof(BackendsAndMembers))]
    public void Member_in_a_kernel_matches_the_managed_call(string backend, string member)
    {
        var method = (MethodInfo)IntrinsicMembers.All[member];
        KernelDescriptor kernel = s_probes.GetOrAdd(member, Probe);

        // Inputs padded for the arguments at i + 1 and i + 2.
        float[] x = TestData.Random(Threads + 2, 11, -3f, 3f);
        int[] k = Enumerable.Range(0, Threads + 2).Select(i => (i * 7919 % 2001) - 1000).ToArray();
        uint[] u = Enumerable.Range(0, Threads + 2).Select(i => (uint)i * 2654435761u).ToArray();
        float[] f = new float[Threads];
        int[] ki = new int[Threads];
        uint[] ku = new uint[Threads];
        devices.Launch(backend, kernel, Int3.Size(Threads / 64), Int3.Size(64), x, k, u, f, ki, ku);

        object[] expected = Enumerable.Range(0, Threads)
            .Select(i => method.Invoke(null, method.GetParameters().Select(p => Input(p.ParameterType, i + p.Position)).ToArray())!)
            .ToArray();
        switch (IntrinsicMembers.Output(method.ReturnType))
        {
            case "f":
                // Math built-ins may differ by a few ulps between the device library and .NET.
                Close.Elementwise(expected.Cast<float>().ToArray(), f, 1e-5, 1e-6, member);
                break;
            case "ki":
                Assert.Equal(expected.Cast<int>(), ki);
                break;
            default:
                Assert.Equal(expected.Cast<uint>(), ku);
                break;
        }

        object Input(Type type, int i) => IntrinsicMembers.Input(type) switch { "x" => (object)x[i], "k" => k[i], _ => u[i] };
    }

    private static KernelDescriptor Probe(string member)
    {
        string name = IntrinsicMembers.KernelName(member);
        GeneratorHarness.Result result = GeneratorHarness.Run(
            GeneratorHarness.Kernel(IntrinsicMembers.Body(member), parameters: IntrinsicMembers.Parameters, name: name), assemblyName: name);
        Assert.Empty(result.GeneratorDiagnostics);
        return Assert.Single(result.Load());
    }
}
