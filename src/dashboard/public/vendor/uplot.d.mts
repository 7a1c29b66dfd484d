// Types of vendor/uplot.mjs, uPlot's ESM build that tools/build.mjs copies here.
import uPlot from 'uplot';
export default uPlot;
