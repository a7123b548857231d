namespace GpuViT.Kernels.Library;

/// <summary>The token bookkeeping around the blocks: class token, position embeddings, pooling.</summary>
public static class Tokens
{
    /// <summary>
    /// For tokens [batch, tokenCount, dim]: row 0 of each image = classToken (when
    /// <paramref name="hasClassToken"/>), then every row += positions[row]. One thread per
    /// element, 1D launch over batch·tokenCount·dim; classToken is not read when absent.
    /// </summary>
    [Kernel]
    public static void ClassTokenAndPositions(
        KernelThread thread, ReadWriteView<float> tokens, ReadOnlyView<float> classToken, ReadOnlyView<float> positions,
        int batch, int tokenCount, int dim, bool hasClassToken)
    {
        int i = thread.Global.X;
        int perImage = tokenCount * dim;
        if (i < batch * perImage)
        {
            // The same index within every image: row · dim + feature.
            int within = i % perImage;
            float value = hasClassToken && within < dim ? classToken[within] : tokens[i];
            tokens[i] = value + positions[within];
        }
    }

    /// <summary>
    /// output[b, f] = the mean over rows first .. first + count − 1 of tokens[b, row, f]: the
    /// class token is first = 0, count = 1 (a copy), mean pooling is the rows after the prefix.
    /// One thread per output, 1D launch over batch·dim; neighbouring threads read neighbouring
    /// features, so each row is read coalesced.
    /// </summary>
    [Kernel]
    public static void PoolTokens(
        KernelThread thread, ReadOnlyView<float> tokens, ReadWriteView<float> output, int batch, int tokenCount, int dim, int first, int count)
    {
        int i = thread.Global.X;
        if (i < batch * dim)
        {
            int image = i / dim;
            int feature = i - image * dim;
            int at = (image * tokenCount + first) * dim + feature;
            float sum = 0f;
            for (int row = 0; row < count; row++)
            {
                sum += tokens[at + row * dim];
            }

            output[i] = sum / (float)count;
        }
    }
}
