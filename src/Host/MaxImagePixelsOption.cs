using System.CommandLine;
using GpuViT.Models.Images;

namespace GpuViT.Host;

/// <summary>`--max-image-pixels N`, which `run` and `compare` share: larger images are refused from their header, before decoding.</summary>
public static class MaxImagePixelsOption
{
    public static Option<long> Create() => new("--max-image-pixels")
    {
        Description = $"Refuse images of more pixels than this, before decoding them (default {ImageDecoder.DefaultMaxPixels}, 8192x8192; one takes about {ImageDecoder.DecodeBytesPerPixel} bytes a pixel to decode)",
        DefaultValueFactory = _ => ImageDecoder.DefaultMaxPixels,
    };

    /// <summary>The option's value, at least 1.</summary>
    public static long Value(ParseResult parsed, Option<long> option)
    {
        long pixels = parsed.GetValue(option);
        return pixels >= 1 ? pixels : throw new UsageException($"--max-image-pixels must be at least 1, not {pixels}");
    }
}
