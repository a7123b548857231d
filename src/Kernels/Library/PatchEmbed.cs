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
    /// <summary>Threads per group along each dimension; each thread computes 4×4 outputs.</summary>
    public const int Threads = 16;

    /// <summary>Rows (patches) and columns (embedding features) of the output tile one group computes.</summary>
    public const int Tile = 4 * Threads;

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
        int pixels0 = PatchOrigin(rowBase + ty, rows, patches, grid, channels, imageSize, patchSize);
        int pixels1 = PatchOrigin(rowBase + ty + Threads, rows, patches, grid, channels, imageSize, patchSize);
        int pixels2 = PatchOrigin(rowBase + ty + 2 * Threads, rows, patches, grid, channels, imageSize, patchSize);
        int pixels3 = PatchOrigin(rowBase + ty + 3 * Threads, rows, patches, grid, channels, imageSize, patchSize);

        float c00 = 0f, c01 = 0f, c02 = 0f, c03 = 0f;
        float c10 = 0f, c11 = 0f, c12 = 0f, c13 = 0f;
        float c20 = 0f, c21 = 0f, c22 = 0f, c23 = 0f;
        float c30 = 0f, c31 = 0f, c32 = 0f, c33 = 0f;

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
            patchTile[store] = PatchPixel(images, pixels0, within);
            patchTile[store + Threads] = PatchPixel(images, pixels1, within);
            patchTile[store + 2 * Threads] = PatchPixel(images, pixels2, within);
            patchTile[store + 3 * Threads] = PatchPixel(images, pixels3, within);
            weightTile[store] = PatchWeight(weight, columnBase + ty, dim, kk, k);
            weightTile[store + Threads] = PatchWeight(weight, columnBase + ty + Threads, dim, kk, k);
            weightTile[store + 2 * Threads] = PatchWeight(weight, columnBase + ty + 2 * Threads, dim, kk, k);
            weightTile[store + 3 * Threads] = PatchWeight(weight, columnBase + ty + 3 * Threads, dim, kk, k);
            Group.Barrier();

            for (int i = 0; i < TileK; i++)
            {
                int at = i * Stride;
                float a0 = patchTile[at + ty];
                float a1 = patchTile[at + ty + Threads];
                float a2 = patchTile[at + ty + 2 * Threads];
                float a3 = patchTile[at + ty + 3 * Threads];
                float b0 = weightTile[at + tx];
                float b1 = weightTile[at + tx + Threads];
                float b2 = weightTile[at + tx + 2 * Threads];
                float b3 = weightTile[at + tx + 3 * Threads];
                c00 += a0 * b0;
                c01 += a0 * b1;
                c02 += a0 * b2;
                c03 += a0 * b3;
                c10 += a1 * b0;
                c11 += a1 * b1;
                c12 += a1 * b2;
                c13 += a1 * b3;
                c20 += a2 * b0;
                c21 += a2 * b1;
                c22 += a2 * b2;
                c23 += a2 * b3;
                c30 += a3 * b0;
                c31 += a3 * b1;
                c32 += a3 * b2;
                c33 += a3 * b3;
            }

            Group.Barrier();
        }

        int column = columnBase + tx;
        int out0 = PatchTokenRow(rowBase + ty, rows, patches, tokenCount, prefix, dim);
        int out1 = PatchTokenRow(rowBase + ty + Threads, rows, patches, tokenCount, prefix, dim);
        int out2 = PatchTokenRow(rowBase + ty + 2 * Threads, rows, patches, tokenCount, prefix, dim);
        int out3 = PatchTokenRow(rowBase + ty + 3 * Threads, rows, patches, tokenCount, prefix, dim);
        PatchStore(tokens, bias, out0, column, dim, c00, c01, c02, c03);
        PatchStore(tokens, bias, out1, column, dim, c10, c11, c12, c13);
        PatchStore(tokens, bias, out2, column, dim, c20, c21, c22, c23);
        PatchStore(tokens, bias, out3, column, dim, c30, c31, c32, c33);
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

    /// <summary>Writes one thread's four outputs of a token row (columns column + Threads·j), plus the bias.</summary>
    [DeviceFunction]
    public static void PatchStore(
        ReadWriteView<float> tokens, ReadOnlyView<float> bias, int row, int column, int dim, float v0, float v1, float v2, float v3)
    {
        if (row < 0)
        {
            return;
        }

        if (column < dim)
        {
            tokens[row + column] = v0 + bias[column];
        }

        if (column + Threads < dim)
        {
            tokens[row + column + Threads] = v1 + bias[column + Threads];
        }

        if (column + 2 * Threads < dim)
        {
            tokens[row + column + 2 * Threads] = v2 + bias[column + 2 * Threads];
        }

        if (column + 3 * Threads < dim)
        {
            tokens[row + column + 3 * Threads] = v3 + bias[column + 3 * Threads];
        }
    }
}
