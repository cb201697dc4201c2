/** WGSL files under shaders/ are imported as text (esbuild loader `text`; a vitest plugin in tests). */
declare module '*.wgsl' {
  const source: string;
  export default source;
}
