using System.Diagnostics;
using GpuViT.Kernels.OpenCL;
using K = GpuViT.Kernels.Generated.KernelCatalog;

namespace GpuViT.Tests.Runtime;

[Collection(nameof(RunsAlone))]
public sealed class OpenCLLeakTests
{
    /// <summary>The leak test: a thousand full cycles return the device, and the process, to where they started.</summary>
    [Fact]
    public void A_thousand_allocate_upload_launch_download_dispose_cycles_leak_nothing()
    {
        using OpenCLDevice device = RuntimeRequirement.OpenCL();
        const int n = 64 * 1024; // 256 KiB per buffer: a leak of three per cycle would be 750 MiB
        float[] a = TestData.Random(n, 13), b = TestData.Random(n, 14), c = new float[n];
        MemoryUsage start = device.Memory;

        void Cycle()
        {
            using DeviceBuffer<float> da = device.Upload<float>(a), db = device.Upload<float>(b), dc = device.Allocate<float>(n);
            device.Launch(K.Add, Int3.Size(n / 256), Int3.Size(256), da, db, dc, n);
            dc.Download(c);
        }

        for (int i = 0; i < 50; i++)
        {
            Cycle();
        }

        long nativeBefore = NativeBytes();
        for (int i = 0; i < 1000; i++)
        {
            Cycle();
        }

        long growth = NativeBytes() - nativeBefore;

        Assert.Equal(start.BytesInUse, device.Memory.BytesInUse);
        Assert.Equal(start.Buffers, device.Memory.Buffers);
        Assert.Equal(3L * n * sizeof(float), device.Memory.PeakBytes);
        Assert.Equal(a[n - 1] + b[n - 1], c[n - 1]);
        Assert.True(growth < 64L << 20, $"the process grew by {growth >> 20} MiB over 1000 cycles");
    }

    /// <summary>Resident memory less the managed heap: what native allocations hold.</summary>
    private static long NativeBytes()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        using var process = Process.GetCurrentProcess();
        return process.WorkingSet64 - GC.GetTotalMemory(forceFullCollection: true);
    }
}
