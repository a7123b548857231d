namespace GpuViT.Tests.Kernels;

/// <summary>
/// Kernels that use every form of vector access: Load4/Store4 and Load2/Store2 on views, a
/// shared-array round trip, Float2/Float4 locals, construction, components, and device
/// functions taking and returning vectors. Built for OpenCL and CUDA like the other language
/// kernels (<see cref="LanguageKernels"/>), and run on every backend by VectorKernelTests.
/// </summary>
public static class VectorKernels
{
    public const int ReverseGroup = 16;

    /// <summary>y[4q..4q+3] = factor · x[4q..4q+3] + (0, 1, 2, 3) for each of <paramref name="quads"/> quads.</summary>
    [Kernel]
    public static void ScaleQuads(KernelThread thread, ReadOnlyView<float> x, ReadWriteView<float> y, int quads, float factor)
    {
        int q = thread.Global.X;
        if (q < quads)
        {
            Float4 v = x.Load4(4 * q);
            y.Store4(4 * q, AddRamp(new Float4(v.X * factor, v.Y * factor, v.Z * factor, v.W * factor)));
        }
    }

    /// <summary>Swaps the two elements of each of <paramref name="pairs"/> pairs, and writes their sum after all pairs.</summary>
    [Kernel]
    public static void SwapPairs(KernelThread thread, ReadOnlyView<float> x, ReadWriteView<float> y, int pairs)
    {
        int p = thread.Global.X;
        if (p < pairs)
        {
            // Always the load (pairs > 0 here): a vector ?: must build in both dialects.
            Float2 pair = pairs > 0 ? x.Load2(2 * p) : new Float2(0f, 0f);
            y.Store2(2 * p, new Float2(pair.Y, pair.X));
            y[2 * pairs + p] = x.Load2(2 * p).X + pair.Y;
        }
    }

    /// <summary>
    /// Each group of <see cref="ReverseGroup"/> threads reverses its 64 floats through shared
    /// memory: every thread stores a quad (Store4), then reads the mirrored quad (Load4, in a
    /// device function) and a pair (Load2), and writes the quad with its components reversed.
    /// </summary>
    [Kernel]
    public static void ReverseQuadsThroughShared(KernelThread thread, ReadOnlyView<float> x, ReadWriteView<float> y)
    {
        var tile = Group.Shared<float>(4 * ReverseGroup);
        int lane = thread.Local.X;
        int start = 4 * ReverseGroup * thread.Group.X;
        tile.Store4(4 * lane, x.Load4(start + 4 * lane));
        Group.Barrier();

        Float4 mirrored = MirroredQuad(tile, lane);
        Float2 pair = tile.Load2(4 * (ReverseGroup - 1 - lane));
        y.Store4(start + 4 * lane, new Float4(mirrored.W, mirrored.Z, pair.Y, pair.X));
    }

    [DeviceFunction]
    public static Float4 AddRamp(Float4 v) => new Float4(v.X, v.Y + 1f, v.Z + 2f, v.W + 3f);

    [DeviceFunction]
    public static Float4 MirroredQuad(SharedArray<float> tile, int lane) => tile.Load4(4 * (ReverseGroup - 1 - lane));
}
