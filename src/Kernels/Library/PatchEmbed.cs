namespace GpuViT.Kernels.Library;

/// <summary>
/// The ViT patch embedding: a stride-P, P×P convolution, run as a GEMM whose rows are the
/// patches, read straight from the images (no im2col buffer). Row m of the GEMM is patch p of
/// image b (m = b·patches + p, p row-major over the grid, as PyTorch's conv + flatten(2) +
/// transpose(1, 2)); column k is (channel, y, x) within the patch, matching the conv weight
/// [dim, channels, P, P] flattened to [dim, K].
/// </summary>
public static class PatchEmbed
{
    /// <summary>Threads per group along each dimension; each thread computes MicroTile × MicroTile outputs.</summary>
    public const int Threads = 16;

    /// <summary>Each thread computes MicroTile × MicroTile outputs, strided by Threads.</summary>
    public const int MicroTile = MicroTiles.Size;

    /// <summary>Rows (patches) and columns (embedding features) of the output tile one group computes.</summary>
    public const int Tile = MicroTile * Threads;

    /// <summary>The K-slice staged in shared memory per step: thread column tx loads K-column tx.</summary>
    public const int TileK = Threads;

    /// <summary>Shared rows are padded by one, so a warp's stores down a column hit distinct banks.</summary>
    private const int Stride = Tile + 1;

    /// <summary>
    /// tokens[b, prefix + p, :] = W·patch(b, p) + bias. Launch groups of Threads × Threads over
    /// ceil(dim / Tile) × ceil(batch·patches / Tile). A group computes a Tile × Tile block of
    /// (patches × features): per K-slice it stages the pixels of its 64 patches and the weights
    /// of its 64 features in shared memory, and each thread accumulates a 4×4 micro-tile in
    /// registers, strided by Threads so that stores to the tokens are coalesced. Edges are handled here.
    /// </summary>
    [Kernel]
    public static void PatchEmbedTiled(
        KernelThread thread, ReadOnlyView<float> images, ReadOnlyView<float> weight, ReadOnlyView<float> bias, ReadWriteView<float> tokens,
        int batch, int channels, int imageSize, int patchSize, int dim, int prefix)
    {
        var patchTile = Group.Shared<float>(TileK * Stride);
        var weightTile = Group.Shared<float>(TileK * Stride);
        int tx = thread.Local.X;
        int ty = thread.Local.Y;
        int rowBase = thread.Group.Y * Tile;
        int columnBase = thread.Group.X * Tile;

        int grid = imageSize / patchSize;
        int patches = grid * grid;
        int rows = batch * patches;
        int patchArea = patchSize * patchSize;
        int k = channels * patchArea;
        int tokenCount = prefix + patches;

        // Thread (tx, ty) loads rows ty + Threads·i of both tiles at K-column tx; where its patch rows start in the images.
        // Every register array below is indexed by unrolled constant-bound loops only, so it stays in registers.
        Span<int> origins = stackalloc int[MicroTile];
        for (int i = 0; i < MicroTile; i++)
        {
            origins[i] = PatchOrigin(rowBase + ty + i * Threads, rows, patches, grid, channels, imageSize, patchSize);
        }

        // c[i·MicroTile + j]: patch row ty + Threads·i, feature column tx + Threads·j.
        Span<float> c = stackalloc float[MicroTile * MicroTile];
        Span<float> a = stackalloc float[MicroTile];
        Span<float> b = stackalloc float[MicroTile];

        for (int k0 = 0; k0 < k; k0 += TileK)
        {
            int kk = k0 + tx;

            // Where column kk lies within a patch: channel plane, row, column; −1 past K.
            int within = -1;
            if (kk < k)
            {
                int channel = kk / patchArea;
                int rest = kk - channel * patchArea;
                int py = rest / patchSize;
                within = (channel * imageSize + py) * imageSize + (rest - py * patchSize);
            }

            int store = tx * Stride + ty;
            for (int i = 0; i < MicroTile; i++)
            {
                patchTile[store + i * Threads] = PatchPixel(images, origins[i], within);
            }

            for (int i = 0; i < MicroTile; i++)
            {
                weightTile[store + i * Threads] = PatchWeight(weight, columnBase + ty + i * Threads, dim, kk, k);
            }

            Group.Barrier();

            for (int i = 0; i < TileK; i++)
            {
                int at = i * Stride;
                for (int t = 0; t < MicroTile; t++)
                {
                    a[t] = patchTile[at + ty + t * Threads];
                    b[t] = weightTile[at + tx + t * Threads];
                }

                MicroTiles.OuterProductAdd(c, a, b);
            }

            Group.Barrier();
        }

        int column = columnBase + tx;
        for (int r = 0; r < MicroTile; r++)
        {
            int row = PatchTokenRow(rowBase + ty + r * Threads, rows, patches, tokenCount, prefix, dim);
            PatchStore(tokens, bias, row, column, dim, c, r * MicroTile);
        }
    }

    /// <summary>The index of the top-left pixel of patch row m in channel 0 of its image; −1 past the last patch.</summary>
    [DeviceFunction]
    public static int PatchOrigin(int m, int rows, int patches, int grid, int channels, int imageSize, int patchSize)
    {
        if (m >= rows)
        {
            return -1;
        }

        int image = m / patches;
        int patch = m - image * patches;
        int gy = patch / grid;
        int gx = patch - gy * grid;
        return (image * channels * imageSize + gy * patchSize) * imageSize + gx * patchSize;
    }

    /// <summary>images[origin + within], or 0 outside the GEMM (either index −1).</summary>
    [DeviceFunction]
    public static float PatchPixel(ReadOnlyView<float> images, int origin, int within) =>
        origin >= 0 && within >= 0 ? images[origin + within] : 0f;

    /// <summary>weight[feature, kk], or 0 outside [dim, k].</summary>
    [DeviceFunction]
    public static float PatchWeight(ReadOnlyView<float> weight, int feature, int dim, int kk, int k) =>
        feature < dim && kk < k ? weight[feature * k + kk] : 0f;

    /// <summary>Where patch row m's token starts in tokens (after prefix rows per image); −1 past the last patch.</summary>
    [DeviceFunction]
    public static int PatchTokenRow(int m, int rows, int patches, int tokenCount, int prefix, int dim)
    {
        if (m >= rows)
        {
            return -1;
        }

        int image = m / patches;
        return (image * tokenCount + prefix + m - image * patches) * dim;
    }

    /// <summary>
    /// Writes one thread's MicroTile outputs of a token row (columns column + Threads·j, values
    /// c[first + j]), plus the bias; nothing for a row past the last patch (−1).
    /// </summary>
    [DeviceFunction]
    public static void PatchStore(ReadWriteView<float> tokens, ReadOnlyView<float> bias, int row, int column, int dim, Span<float> c, int first)
    {
        if (row < 0)
        {
            return;
        }

        for (int j = 0; j < MicroTile; j++)
        {
            int at = column + j * Threads;
            if (at < dim)
            {
                tokens[row + at] = c[first + j] + bias[at];
            }
        }
    }
}
