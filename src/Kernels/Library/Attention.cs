namespace GpuViT.Kernels.Library;

/// <summary>
/// Multi-head self-attention over timm's fused qkv rows [batch, tokens, 3·dim] (dim = heads ·
/// headSize; q, k, v side by side, each head a headSize-wide slice), into [batch, tokens, dim]
/// with the heads side by side, in one kernel: FlashAttention-style, scores, online softmax and
/// ·V together, so the tokens × tokens matrix never reaches global memory. The unfused path it is
/// compared with is <see cref="BatchedGemm.BatchedGemmTiled"/> → <see cref="Softmax.RowSoftmax"/>
/// → <see cref="BatchedGemm.BatchedGemmTiled"/> through a [batch, heads, tokens, tokens] scratch.
/// </summary>
public static class Attention
{
    /// <summary>The largest head the fused kernel's shared tiles hold.</summary>
    public const int MaxHeadSize = 128;

    /// <summary>Queries per group of the fused kernel: the group's Y size.</summary>
    public const int QueryBlock = 8;

    /// <summary>Keys per shared K/V tile of the fused kernel, and the group's X size (one lane per key).</summary>
    public const int KeyBlock = 32;

    /// <summary>Output columns a lane of the fused kernel owns: lane + KeyBlock·i, enough for <see cref="MaxHeadSize"/>.</summary>
    private const int ColumnsPerLane = MaxHeadSize / KeyBlock;

    /// <summary>Threads per group of the fused kernel.</summary>
    private const int FusedThreads = QueryBlock * KeyBlock;

    /// <summary>
    /// Row stride of the shared key tile, stored transposed (a row per head column, a key per
    /// lane): lanes read consecutive words (no bank conflicts on GPUs, vector loads on CPU OpenCL),
    /// and the one word of padding keeps the column-by-column writes of the load conflict-free too.
    /// </summary>
    private const int KeyStride = KeyBlock + 1;

    /// <summary>
    /// FlashAttention-style: a group of KeyBlock × QueryBlock threads owns QueryBlock queries of one
    /// (image, head) and walks the keys in tiles of KeyBlock held in shared memory. Per tile, lane
    /// j of query row i computes score (i, j); each row takes the tile's max, rescales its running
    /// sum and accumulator by exp(oldMax − newMax) (online softmax), and adds p·V. A lane owns
    /// output columns lane, lane + 32, lane + 64 and lane + 96 (a register array, indexed only by
    /// unrolled constant-bound loops so that it stays in registers), so any headSize ≤
    /// <see cref="MaxHeadSize"/> works. Launch groups of (KeyBlock, QueryBlock) over
    /// (ceil(tokens / QueryBlock), heads, batch).
    /// </summary>
    [Kernel]
    public static void AttentionFused(
        KernelThread thread, ReadOnlyView<float> qkv, ReadWriteView<float> output, int tokens, int heads, int headSize, float scale)
    {
        var queryTile = Group.Shared<float>(QueryBlock * MaxHeadSize);
        var keyTile = Group.Shared<float>(MaxHeadSize * KeyStride);
        var valueTile = Group.Shared<float>(KeyBlock * MaxHeadSize);
        var scores = Group.Shared<float>(FusedThreads);
        var probabilities = Group.Shared<float>(FusedThreads);

        int lane = thread.Local.X;
        int row = thread.Local.Y;
        int flat = row * KeyBlock + lane;
        int firstQuery = thread.Group.X * QueryBlock;
        int query = firstQuery + row;
        int head = thread.Group.Y;
        int image = thread.Group.Z;
        int dim = heads * headSize;
        int rowStride = 3 * dim;

        // Element (token 0, column 0) of this head's q; k and v are dim and 2·dim further on.
        int headBase = image * tokens * rowStride + head * headSize;

        for (int i = flat; i < QueryBlock * headSize; i += FusedThreads)
        {
            int r = i / headSize;
            int c = i - r * headSize;
            int t = firstQuery + r;
            queryTile[r * MaxHeadSize + c] = t < tokens ? qkv[headBase + t * rowStride + c] : 0f;
        }

        float runningMax = float.NegativeInfinity;
        float runningSum = 0f;
        Span<float> acc = stackalloc float[ColumnsPerLane];

        for (int firstKey = 0; firstKey < tokens; firstKey += KeyBlock)
        {
            // Everyone is done with the previous tile (and the query tile is written) before the next overwrites it.
            Group.Barrier();
            for (int i = flat; i < KeyBlock * headSize; i += FusedThreads)
            {
                int r = i / headSize;
                int c = i - r * headSize;
                int t = firstKey + r;
                int at = headBase + t * rowStride + c;
                keyTile[c * KeyStride + r] = t < tokens ? qkv[at + dim] : 0f;
                valueTile[r * MaxHeadSize + c] = t < tokens ? qkv[at + 2 * dim] : 0f;
            }

            Group.Barrier();

            int keys = KernelMath.Min(KeyBlock, tokens - firstKey);
            float score = float.NegativeInfinity;
            if (lane < keys)
            {
                float dot = 0f;
                for (int c = 0; c < headSize; c++)
                {
                    dot += queryTile[row * MaxHeadSize + c] * keyTile[c * KeyStride + lane];
                }

                score = dot * scale;
            }

            scores[flat] = score;
            Group.Barrier();

            // Max ignores NaN (fmax); a NaN score still reaches the output through exp.
            float tileMax = float.NegativeInfinity;
            for (int j = 0; j < keys; j++)
            {
                tileMax = KernelMath.Max(tileMax, scores[row * KeyBlock + j]);
            }

            float newMax = KernelMath.Max(runningMax, tileMax);
            probabilities[flat] = KernelMath.Exp(score - newMax);
            Group.Barrier();

            // The row's sum rides along with the first column's; columns past the head are left
            // alone, since their shared values were never written.
            float correction = KernelMath.Exp(runningMax - newMax);
            float tileSum = 0f;
            if (lane < headSize)
            {
                float sum0 = 0f;
                for (int j = 0; j < keys; j++)
                {
                    float p = probabilities[row * KeyBlock + j];
                    tileSum += p;
                    sum0 += p * valueTile[j * MaxHeadSize + lane];
                }

                acc[0] = acc[0] * correction + sum0;
            }
            else
            {
                for (int j = 0; j < keys; j++)
                {
                    tileSum += probabilities[row * KeyBlock + j];
                }
            }

            runningSum = runningSum * correction + tileSum;
            runningMax = newMax;

            for (int part = 1; part < ColumnsPerLane; part++)
            {
                int column = lane + part * KeyBlock;
                if (column < headSize)
                {
                    float sum = 0f;
                    for (int j = 0; j < keys; j++)
                    {
                        sum += probabilities[row * KeyBlock + j] * valueTile[j * MaxHeadSize + column];
                    }

                    acc[part] = acc[part] * correction + sum;
                }
            }
        }

        if (query < tokens)
        {
            float inverse = 1f / runningSum;
            int at = (image * tokens + query) * dim + head * headSize + lane;
            for (int part = 0; part < ColumnsPerLane; part++)
            {
                if (lane + part * KeyBlock < headSize)
                {
                    output[at + part * KeyBlock] = acc[part] * inverse;
                }
            }
        }
    }
}
