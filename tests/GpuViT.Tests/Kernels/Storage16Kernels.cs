namespace GpuViT.Tests.Kernels;

/// <summary>
/// Kernels that store 16-bit floats (Half, BFloat16) through group-shared memory and device
/// functions; the conversions from and to float buffers are the library's (TensorCoreGemm's
/// RoundToBf16, RoundToHalf, WidenBf16, WidenHalf).
/// </summary>
public static class Storage16Kernels
{
    public const int ReverseGroup = 64;

    /// <summary>
    /// Per group: input's block into shared memory as Half (and three times it as BFloat16),
    /// then output[i] = bfloat16(halves[mirror] + bfloats[mirror]) with mirror the lane read
    /// backwards, and copy[i] = half(halves[lane]); reads and writes go through device functions.
    /// </summary>
    [Kernel]
    public static void ReverseThroughShared(KernelThread thread, ReadOnlyView<Half> input, ReadWriteView<BFloat16> output, ReadWriteView<Half> copy, int n)
    {
        var halves = Group.Shared<Half>(ReverseGroup);
        var bfloats = Group.Shared<BFloat16>(ReverseGroup);
        int i = thread.Global.X;
        int lane = thread.Local.X;
        float v = i < n ? Load(input, i) : 0f;
        halves[lane] = (Half)v;
        bfloats[lane] = (BFloat16)(v * 3f);
        Group.Barrier();
        if (i < n)
        {
            output[i] = (BFloat16)Sum(halves, bfloats, ReverseGroup - 1 - lane);
            StoreHalf(copy, i, (float)halves[lane]);
        }
    }

    [DeviceFunction]
    public static float Load(ReadOnlyView<Half> view, int index) => (float)view[index];

    [DeviceFunction]
    public static float Sum(SharedArray<Half> halves, SharedArray<BFloat16> bfloats, int k) => (float)halves[k] + (float)bfloats[k];

    [DeviceFunction]
    public static void StoreHalf(ReadWriteView<Half> view, int index, float value)
    {
        view[index] = (Half)value;
    }
}
