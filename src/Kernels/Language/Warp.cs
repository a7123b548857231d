namespace GpuViT.Kernels;

/// <summary>
/// Operations among the 32 threads of a warp: shuffles, and reductions whose result every lane
/// gets. Threads are grouped into warps by their linear local index (X fastest:
/// (z·sizeY + y)·sizeX + x), lane = linear % 32 and warp = linear / 32, as CUDA does; a kernel
/// that uses them needs a group size that is a multiple of 32.
/// </summary>
/// <remarks>
/// Group-collective: every thread of the group must reach each warp operation, not only the
/// threads of one warp, because OpenCL 1.2 devices without sub-groups exchange the values
/// through local memory between two barriers (see <see cref="CollectiveOperation"/>). The
/// emulator refuses a group whose threads do not all reach the same operation, and an argument
/// outside 0..31.
/// </remarks>
public static class Warp
{
    /// <summary>Threads per warp, on every backend.</summary>
    public const int Size = 32;

    /// <summary>The value of lane <paramref name="sourceLane"/> (0..31) of this thread's warp (CUDA __shfl_sync).</summary>
    public static float Shuffle(float value, int sourceLane) => Exchange(WarpShuffle.Mode.Index, value, sourceLane);

    /// <summary>The value of lane <paramref name="sourceLane"/> (0..31) of this thread's warp (CUDA __shfl_sync).</summary>
    public static int Shuffle(int value, int sourceLane) => Exchange(WarpShuffle.Mode.Index, value, sourceLane);

    /// <summary>The value of lane <paramref name="sourceLane"/> (0..31) of this thread's warp (CUDA __shfl_sync).</summary>
    public static uint Shuffle(uint value, int sourceLane) => Exchange(WarpShuffle.Mode.Index, value, sourceLane);

    /// <summary>The value of lane (this lane XOR <paramref name="laneMask"/>), with the mask in 0..31 (CUDA __shfl_xor_sync).</summary>
    public static float ShuffleXor(float value, int laneMask) => Exchange(WarpShuffle.Mode.Xor, value, laneMask);

    /// <summary>The value of lane (this lane XOR <paramref name="laneMask"/>), with the mask in 0..31 (CUDA __shfl_xor_sync).</summary>
    public static int ShuffleXor(int value, int laneMask) => Exchange(WarpShuffle.Mode.Xor, value, laneMask);

    /// <summary>The value of lane (this lane XOR <paramref name="laneMask"/>), with the mask in 0..31 (CUDA __shfl_xor_sync).</summary>
    public static uint ShuffleXor(uint value, int laneMask) => Exchange(WarpShuffle.Mode.Xor, value, laneMask);

    /// <summary>
    /// The value of lane (this lane + <paramref name="delta"/>), with delta in 0..31; a lane whose
    /// source would be past lane 31 keeps its own value (CUDA __shfl_down_sync).
    /// </summary>
    public static float ShuffleDown(float value, int delta) => Exchange(WarpShuffle.Mode.Down, value, delta);

    /// <inheritdoc cref="ShuffleDown(float, int)"/>
    public static int ShuffleDown(int value, int delta) => Exchange(WarpShuffle.Mode.Down, value, delta);

    /// <inheritdoc cref="ShuffleDown(float, int)"/>
    public static uint ShuffleDown(uint value, int delta) => Exchange(WarpShuffle.Mode.Down, value, delta);

    /// <summary>
    /// The sum of <paramref name="value"/> over the warp, in every lane, added as the xor butterfly
    /// (lane masks 16, 8, 4, 2, 1) on every backend, so the bits agree everywhere.
    /// </summary>
    public static float Sum(float value) => Reduce(WarpReduction.SumFloat, value);

    /// <summary>The sum of <paramref name="value"/> over the warp (wrapping), in every lane.</summary>
    public static int Sum(int value) => Reduce(WarpReduction.SumInt, value);

    /// <summary>The largest value of the warp, in every lane; NaNs are ignored, as by <see cref="KernelMath.Max(float, float)"/>.</summary>
    public static float Max(float value) => Reduce(WarpReduction.MaxFloat, value);

    /// <summary>The smallest value of the warp, in every lane; NaNs are ignored, as by <see cref="KernelMath.Min(float, float)"/>.</summary>
    public static float Min(float value) => Reduce(WarpReduction.MinFloat, value);

    private static T Exchange<T>(WarpShuffle.Mode mode, T value, int argument) where T : unmanaged
    {
        WarpShuffle operation = WarpShuffle.For(mode);
        return (T)GroupContext.Collective(operation, new WarpShuffle.Input(value, argument))!;
    }

    private static T Reduce<T>(WarpReduction operation, T value) where T : unmanaged =>
        (T)GroupContext.Collective(operation, value)!;
}
