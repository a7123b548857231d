using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using GpuViT.Host;
using GpuViT.Tests.Runtime;
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

    [Fact]
    public void Json_is_one_object_of_every_device_and_the_backends_not_found()
    {
        (int exit, string output, string error) = Run("devices", "--json");

        Assert.True(exit == 0, error);
        JsonElement root = JsonDocument.Parse(output).RootElement;
        Assert.Equal(["devices", "not_found", "nvrtc"], root.EnumerateObject().Select(p => p.Name));
        JsonElement[] devices = [.. root.GetProperty("devices").EnumerateArray()];
        Assert.All(devices, d => Assert.Equal(
            ["id", "kind", "name", "gpu", "memory_bytes", "max_allocation_bytes", "compute_units", "compute_capability", "tensor_cores", "fp32_gflops", "memory_gbps", "peaks_from"],
            d.EnumerateObject().Select(p => p.Name)));
        JsonElement cpu = devices.Single(d => d.GetProperty("id").GetString() == "cpu");
        Assert.Equal("cpu", cpu.GetProperty("kind").GetString());
        Assert.True(cpu.GetProperty("memory_bytes").GetInt64() > 0);
        Assert.True(cpu.GetProperty("compute_units").GetInt32() > 0);
        Assert.Equal(JsonValueKind.Null, cpu.GetProperty("compute_capability").ValueKind);
        Assert.Equal(JsonValueKind.Null, devices.Single(d => d.GetProperty("id").GetString() == "emulator").GetProperty("peaks_from").ValueKind);
        Assert.StartsWith("NVRTC", root.GetProperty("nvrtc").GetString());

        // The same devices as the table, by id.
        (_, string table, _) = Run("devices");
        Assert.All(devices, d => Assert.Matches($@"\n  {Regex.Escape(d.GetProperty("id").GetString()!)} ", table));
        Assert.All(root.GetProperty("not_found").EnumerateArray(), m => Assert.Contains($"  {m.GetProperty("backend").GetString()}: {m.GetProperty("problem").GetString()}", table));
    }

    [Fact]
    public void Json_with_probe_has_the_measured_figures()
    {
        (int exit, string output, string error) = Run("devices", "--device", "cpu", "--probe", "--json");

        Assert.True(exit == 0, error);
        JsonElement cpu = JsonDocument.Parse(output).RootElement.GetProperty("devices").EnumerateArray().Single();
        Assert.Equal("probe", cpu.GetProperty("peaks_from").GetString());
        Assert.True(cpu.GetProperty("fp32_gflops").GetDouble() > 0);
        Assert.True(cpu.GetProperty("copy_kernel_gbps").GetDouble() > 0);
        Assert.Equal(cpu.GetProperty("copy_kernel_gbps").GetDouble(), cpu.GetProperty("memory_gbps").GetDouble()); // the cpu has no driver copy
        Assert.Equal(JsonValueKind.Null, cpu.GetProperty("driver_copy_gbps").ValueKind);
    }

    [Fact]
    public void Devices_says_which_NVRTC_it_uses()
    {
        RuntimeRequirement.Nvrtc();

        (int exit, string output, _) = Run("devices");

        Assert.Equal(0, exit);
        Assert.Matches(@"\nNVRTC \d+\.\d+ \((\S*/)?libnvrtc\.so[.0-9]*\)\n", output);
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

/// <summary>`gpuvit devices --probe` on PoCL: alone, with the other probe tests (see <see cref="RunsAlone"/>).</summary>
[Collection(nameof(RunsAlone))]
public sealed class DevicesProbeCommandTests
{
    [Fact]
    public void Probe_shows_the_copy_kernel_and_the_driver_copy_and_takes_the_faster_as_GB_per_s()
    {
        (int exit, string output, _) = Run("devices", "--device", "opencl", "--probe");

        Assert.Equal(0, exit);
        string[] lines = output.Split('\n');
        string[] header = Cells(lines[0]);
        string[] row = Cells(lines[1]);
        Assert.Equal(header.Length, row.Length);
        double Column(string name) => double.Parse(row[Array.IndexOf(header, name)], CultureInfo.InvariantCulture);
        double kernel = Column("copy kernel GB/s"), driver = Column("driver copy GB/s"), roof = Column("GB/s");
        Assert.True(kernel > 0.5 && driver > 0.5, $"copy kernel {kernel} GB/s, driver copy {driver} GB/s");
        Assert.Equal(Math.Max(kernel, driver), roof);
        Assert.True(Column("FP32 GFLOP/s") > 0.5);
        Assert.Contains("the faster of the copy kernel", output);
    }

    /// <summary>A table row's cells: separated by two spaces or more (names have single spaces).</summary>
    private static string[] Cells(string line) => Regex.Split(line.Trim(), " {2,}");
}
