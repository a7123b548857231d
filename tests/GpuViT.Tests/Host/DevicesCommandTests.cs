using GpuViT.Host;
using Xunit;
using static GpuViT.Tests.Host.CliHarness;

namespace GpuViT.Tests.Host;

/// <summary>`gpuvit devices` and the `--device` option every command takes.</summary>
public sealed class DevicesCommandTests
{
    [Fact]
    public void Lists_PoCL_the_cpu_and_the_emulator_and_why_there_is_no_CUDA()
    {
        (int exit, string output, _) = Run("devices");

        Assert.Equal(0, exit);
        Assert.Contains("opencl:0.0", output);
        Assert.Matches(@"\n  cpu +cpu ", output);
        Assert.Contains("emulator", output);
        Assert.Contains("cuda: ", output);
        Assert.Contains("libcuda.so.1", output);
    }

    [Fact]
    public void Probe_measures_one_device_and_labels_the_figures()
    {
        (int exit, string output, _) = Run("devices", "--device", "cpu", "--probe");

        Assert.Equal(0, exit);
        Assert.Contains("probe (measured)", output);
    }

    [Theory]
    [InlineData("devices")]
    [InlineData("kernels")]
    [InlineData("kernels", "Add")]
    public void Any_command_given_device_cuda_here_is_a_one_line_error_with_exit_code_2(params string[] command)
    {
        (int exit, string output, string error) = Run([.. command, "--device", "cuda"]);

        Assert.Equal(Cli.UsageError, exit);
        Assert.Empty(output);
        Assert.Single(error.TrimEnd('\n').Split('\n'));
        Assert.Contains("libcuda.so.1", error);
    }

    [Fact]
    public void Kernels_with_a_device_builds_each_kernel_there()
    {
        (int exit, string output, _) = Run("kernels", "--device", "emulator");

        Assert.Equal(0, exit);
        Assert.Contains("built on emulator", output);
        Assert.Matches(@"GemmTiled .* built in \d+ ms", output);
    }
}
