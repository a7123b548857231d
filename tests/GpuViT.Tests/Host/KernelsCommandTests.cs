using GpuViT.Host;
using static GpuViT.Tests.Host.CliHarness;

namespace GpuViT.Tests.Host;

/// <summary>`gpuvit kernels`: the listing, each kernel's sources, and bad input.</summary>
public sealed class KernelsCommandTests
{
    private static readonly string[] LibraryKernels = ["Add", "Gelu", "GeluTanh", "RowSoftmax", "GemmNaive", "GemmTiled", "GemmRegisterBlocked", "BatchedGemmTiled"];

    [Fact]
    public void Lists_every_library_kernel_with_its_parameters()
    {
        (int exit, string output, string error) = Run("kernels");

        Assert.Equal(0, exit);
        Assert.Empty(error);
        foreach (string name in LibraryKernels)
        {
            Assert.Contains($"  {name} ", output);
        }

        Assert.Matches(
            @"GemmTiled +\(ReadOnlyView<float> x, ReadOnlyView<float> w, ReadOnlyView<float> bias, ReadOnlyView<float> residual, ReadWriteView<float> y, int m, int n, int k, bool hasBias, int activation, bool hasResidual\)  shared 2112 B  barrier",
            output);
    }

    [Theory]
    [InlineData("opencl", "__kernel void ")]
    [InlineData("cuda", "extern \"C\" __global__ void ")]
    public void Prints_each_kernels_source_in_each_dialect(string dialect, string entry)
    {
        foreach (string name in LibraryKernels)
        {
            (int exit, string output, _) = Run("kernels", name, "--dialect", dialect);

            Assert.Equal(0, exit);
            Assert.Contains(entry + name + "(", output);
        }
    }

    [Fact]
    public void OpenCL_is_the_default_dialect()
    {
        Assert.Contains("__kernel void Add(", Run("kernels", "Add").Output);
    }

    [Theory]
    [InlineData("no kernel named 'Nope'", "kernels", "Nope")]
    [InlineData("did you mean 'Add'?", "kernels", "add")]
    [InlineData("'opencl'", "kernels", "Add", "--dialect", "hlsl")]
    [InlineData("Unrecognized command or argument", "kernals")]
    [InlineData("--resources takes a real architecture such as sm_90, not 'sm_90f'", "kernels", "--resources", "sm_90f")]
    [InlineData("--resources takes a real architecture such as sm_90, not 'compute_90'", "kernels", "--resources", "compute_90")]
    public void Bad_input_is_one_line_and_exit_code_2(string expected, params string[] args)
    {
        (int exit, string output, string error) = Run(args);

        AssertUsageError(exit, output, error, expected);
        Assert.StartsWith("gpuvit: ", error);
    }
}
