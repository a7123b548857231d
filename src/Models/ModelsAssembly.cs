namespace GpuViT.Models;

/// <summary>Marker for the Models assembly; the ViT and the dense RNN arrive with their issues.</summary>
public static class ModelsAssembly;
