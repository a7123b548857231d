namespace GpuViT.Kernels.Library;

/// <summary>Numerically stable softmax over the rows of a row-major matrix.</summary>
public static class Softmax
{
    /// <summary>The largest group this kernel's shared reduction buffer holds.</summary>
    public const int MaxGroupSize = 256;

    /// <summary>
    /// y[r, :] = exp(x[r, :] − max) / Σ exp(x[r, :] − max). One group per row (launch rows × 1
    /// groups); the group size is a power of two up to <see cref="MaxGroupSize"/>, and its threads
    /// stride over the columns, then reduce max and sum through shared memory.
    /// </summary>
    [Kernel]
    public static void RowSoftmax(KernelThread thread, ReadOnlyView<float> x, ReadWriteView<float> y, int rows, int cols)
    {
        var partial = Group.Shared<float>(MaxGroupSize);
        int row = thread.Group.X;
        int lane = thread.Local.X;
        int width = thread.GroupSize.X;

        // The row is the same for the whole group, so every thread still reaches every barrier.
        if (row < rows)
        {
            int offset = row * cols;
            float max = float.NegativeInfinity;
            for (int c = lane; c < cols; c += width)
            {
                max = KernelMath.Max(max, x[offset + c]);
            }

            max = GroupReductions.GroupMax(partial, lane, width, max);

            float sum = 0f;
            for (int c = lane; c < cols; c += width)
            {
                sum += KernelMath.Exp(x[offset + c] - max);
            }

            sum = GroupReductions.GroupSum(partial, lane, width, sum);
            float scale = 1f / sum;
            for (int c = lane; c < cols; c += width)
            {
                y[offset + c] = KernelMath.Exp(x[offset + c] - max) * scale;
            }
        }
    }
}
