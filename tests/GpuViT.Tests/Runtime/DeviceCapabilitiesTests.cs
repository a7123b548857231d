namespace GpuViT.Tests.Runtime;

/// <summary>What each backend says it does in hardware, for ops choosing between kernels.</summary>
public sealed class DeviceCapabilitiesTests(TestDevices devices) : IClassFixture<TestDevices>
{
    [Theory]
    [InlineData(TestBackends.Cpu)]
    [InlineData(TestBackends.Emulator)]
    [InlineData(TestBackends.OpenCL)]
    public void Backends_without_tensor_cores_say_so(string backend)
    {
        DeviceCapabilities capabilities = devices.Device(backend).Info.Capabilities;

        Assert.Equal(DeviceCapabilities.None, capabilities);
        Assert.False(capabilities.HasNativeWarps);
        Assert.All(Enum.GetValues<TensorCoreShape>(), shape => Assert.False(capabilities.HasMma(shape)));
        Assert.Equal("-", capabilities.TensorCoreSummary);
    }

    [Fact]
    public void A_CUDA_device_reports_its_compute_capability_and_from_sm_80_the_three_shapes()
    {
        Device device = devices.Device(TestBackends.Cuda);
        DeviceCapabilities capabilities = device.Info.Capabilities;

        Assert.NotNull(capabilities.ComputeCapability);
        Assert.True(capabilities.HasNativeWarps);
        Assert.Contains($"compute capability {capabilities.ComputeCapability / 10}.{capabilities.ComputeCapability % 10}", device.Info.Driver);
    }

    [Theory]
    [InlineData(7, 5, "sm_75: none")]
    [InlineData(8, 0, "sm_80: tf32 bf16 f16")]
    [InlineData(8, 6, "sm_86: tf32 bf16 f16")]
    [InlineData(9, 0, "sm_90: tf32 bf16 f16")]
    public void CUDA_capabilities_follow_the_compute_capability(int major, int minor, string summary)
    {
        DeviceCapabilities capabilities = DeviceCapabilities.Cuda(major, minor);

        Assert.Equal(major * 10 + minor, capabilities.ComputeCapability);
        Assert.True(capabilities.HasNativeWarps);
        Assert.All(Enum.GetValues<TensorCoreShape>(), shape => Assert.Equal(major >= 8, capabilities.HasMma(shape)));
        Assert.Equal(summary, capabilities.TensorCoreSummary);
        Assert.Equal(capabilities, DeviceCapabilities.Cuda(major, minor));
    }
}
