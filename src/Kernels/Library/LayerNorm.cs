namespace GpuViT.Kernels.Library;

/// <summary>Layer normalization over the rows of a row-major matrix, and the group reduction it uses.</summary>
public static class LayerNorm
{
    /// <summary>The largest group <see cref="RowLayerNorm"/>'s shared reduction buffer holds.</summary>
    public const int MaxGroupSize = 256;

    /// <summary>
    /// y[r, c] = (x[r, c] − mean)/√(var + eps)·γ[c] + β[c], with the biased variance of row r.
    /// One group per row (launch rows × 1 groups); the group size is a power of two up to
    /// <see cref="MaxGroupSize"/>. The mean is x[r, 0] + δ, δ the mean of x − x[r, 0]: those
    /// differences are exact and their sums small, so a mean large against the spread does not
    /// swamp it. The variance is a second pass over the deviations (x − x[r, 0]) − δ, not
    /// Σx² − mean², which cancels catastrophically in that case.
    /// </summary>
    [Kernel]
    public static void RowLayerNorm(
        KernelThread thread, ReadOnlyView<float> x, ReadOnlyView<float> gamma, ReadOnlyView<float> beta, ReadWriteView<float> y,
        int rows, int cols, float eps)
    {
        var partial = Group.Shared<float>(MaxGroupSize);
        int row = thread.Group.X;
        int lane = thread.Local.X;
        int width = thread.GroupSize.X;

        // The row is the same for the whole group, so every thread still reaches every barrier.
        if (row < rows)
        {
            int offset = row * cols;
            float shift = x[offset];
            float sum = 0f;
            for (int c = lane; c < cols; c += width)
            {
                sum += x[offset + c] - shift;
            }

            float delta = GroupReductions.GroupSum(partial, lane, width, sum) / (float)cols;

            float squares = 0f;
            for (int c = lane; c < cols; c += width)
            {
                float deviation = x[offset + c] - shift - delta;
                squares += deviation * deviation;
            }

            float variance = GroupReductions.GroupSum(partial, lane, width, squares) / (float)cols;
            float inverseStd = KernelMath.Rsqrt(variance + eps);
            for (int c = lane; c < cols; c += width)
            {
                y[offset + c] = (x[offset + c] - shift - delta) * inverseStd * gamma[c] + beta[c];
            }
        }
    }
}
