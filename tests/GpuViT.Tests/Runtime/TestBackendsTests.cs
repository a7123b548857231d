using System.Reflection;
using GpuViT.Kernels.Cuda;
using Xunit.Sdk;

namespace GpuViT.Tests.Runtime;

/// <summary>The backends the tests discover: every kernel device gets its rows, and cuda runs where it opens, else skips saying why.</summary>
public sealed class TestBackendsTests
{
    [Fact]
    public async Task Kernel_device_data_gives_each_row_once_per_kernel_device_backend()
    {
        var attribute = new KernelDeviceDataAttribute(5, "x");
        MethodInfo method = typeof(TestBackendsTests).GetMethod(nameof(Kernel_device_data_gives_each_row_once_per_kernel_device_backend))!;

        IReadOnlyCollection<ITheoryDataRow> rows = await attribute.GetData(method, new DisposalTracker());

        Assert.Equal(
            [["opencl", 5, "x"], ["cuda", 5, "x"]],
            rows.Select(row => row.GetData()).ToArray());
    }

    [Fact]
    public void Cuda_opens_where_a_CUDA_device_is_found_and_elsewhere_says_why_not()
    {
        DeviceDiscovery found = CudaDevice.Discover();

        if (found.Devices.Count > 0)
        {
            using Device device = TestBackends.Open("cuda");
            Assert.Equal(found.Devices[0].Id, device.Info.Id);
        }
        else
        {
            // A skip (or, under GPUVIT_REQUIRE_CUDA=1, a failure) that carries discovery's reason;
            // caught by hand, since xunit's Assert.Throws lets a skip through.
            Exception? e = null;
            try
            {
                TestBackends.Open("cuda").Dispose();
            }
            catch (Exception caught)
            {
                e = caught;
            }

            Assert.NotNull(e);
            Assert.Contains(found.Problem!, e.Message);
        }
    }
}
